package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// primaryKey reads the primary-key columns of r in key order; a table
// without one is a NoPrimaryKeyError.
func primaryKey(ctx context.Context, tx pgx.Tx, r swapRel) ([]column, error) {
	rows, err := tx.Query(ctx, `
		SELECT a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord), pg_attribute a
		WHERE i.indrelid = $1::regclass AND i.indisprimary AND a.attrelid = i.indrelid AND a.attnum = k.attnum
		ORDER BY k.ord`, r.t.Quoted())
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", r.t, err)
	}
	pk, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (column, error) {
		var c column
		return c, row.Scan(&c.name, &c.typ)
	})
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", r.t, err)
	}
	if len(pk) == 0 {
		return nil, &NoPrimaryKeyError{Table: r.t.String()}
	}
	return pk, nil
}

// fkOrder sorts rels so that every table comes after the tables it
// references (self-references aside); a cycle is refused.
func fkOrder(ctx context.Context, tx pgx.Tx, rels []mergeRel) ([]mergeRel, error) {
	names := make([]string, len(rels))
	for i, r := range rels {
		names[i] = r.t.Quoted()
	}
	rows, err := tx.Query(ctx, `
		WITH sel AS (SELECT n, n::regclass AS oid FROM unnest($1::text[]) n)
		SELECT c.n, p.n FROM pg_constraint con JOIN sel c ON c.oid = con.conrelid JOIN sel p ON p.oid = con.confrelid
		WHERE con.contype = 'f' AND con.conparentid = 0 AND con.conrelid <> con.confrelid`, names)
	if err != nil {
		return nil, fmt.Errorf("foreign keys between the tables: %w", err)
	}
	type edge struct{ child, parent string }
	edges, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (edge, error) {
		var e edge
		return e, row.Scan(&e.child, &e.parent)
	})
	if err != nil {
		return nil, fmt.Errorf("foreign keys between the tables: %w", err)
	}
	var out []mergeRel
	done := map[string]bool{}
	for len(out) < len(rels) {
		progressed := false
		for _, r := range rels {
			n := r.t.Quoted()
			if done[n] {
				continue
			}
			ready := !slices.ContainsFunc(edges, func(e edge) bool { return e.child == n && !done[e.parent] })
			if ready {
				out = append(out, r)
				done[n] = true
				progressed = true
			}
		}
		if !progressed {
			var left []string
			for _, r := range rels {
				if !done[r.t.Quoted()] {
					left = append(left, r.t.String())
				}
			}
			return nil, fmt.Errorf("tables %s reference each other in a cycle: an undelete cannot order their inserts", strings.Join(left, ", "))
		}
	}
	return out, nil
}

// limitSQL is the condition on the snapshot's rows (alias s) that r's limit
// makes, and its parameters. The column is matched against the table's own
// columns and quoted; the value is a parameter, cast to the column's type.
func limitSQL(r mergeRel) (string, []any, error) {
	l := r.limit
	switch {
	case len(l.Keys) > 0 && l.Filter != nil:
		return "", nil, fmt.Errorf("%s: an undelete is limited by keys or by a filter, not both", r.t)
	case len(l.Keys) > 0:
		if len(r.pk) != 1 {
			return "", nil, fmt.Errorf("%s: listed keys need a one-column primary key; this one has %d columns (use a filter)", r.t, len(r.pk))
		}
		return "s." + ident(r.pk[0].name) + " = ANY (CAST($1::text[] AS " + r.pk[0].typ + "[]))", []any{l.Keys}, nil
	case l.Filter != nil:
		f := l.Filter
		i := slices.IndexFunc(r.cols, func(c column) bool { return c.name == f.Column })
		if i < 0 {
			return "", nil, fmt.Errorf("%s has no column %q: the filter is refused, nothing was changed", r.t, f.Column)
		}
		c := r.cols[i]
		if c.generated {
			return "", nil, fmt.Errorf("%s: column %q is generated; filter on a stored column", r.t, f.Column)
		}
		op, ok := MergeOps[f.Op]
		if !ok {
			return "", nil, fmt.Errorf("filter operator %q is not one of the offered ones", f.Op)
		}
		col := "s." + ident(c.name)
		switch f.Op {
		case "is_null", "not_null":
			return col + " " + op, nil, nil
		case "like":
			return col + "::text LIKE $1::text", []any{f.Value}, nil
		}
		return col + " " + op + " CAST($1::text AS " + c.typ + ")", []any{f.Value}, nil
	}
	return "true", nil, nil
}
