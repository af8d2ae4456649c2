package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/restoreportal/portal/internal/dbx"
)

// foreignKey is a foreign key touching a swap's tables, as it was before the
// swap dropped it.
type foreignKey struct {
	name                 string
	child, parent        string // quoted, schema-qualified
	childPart, parentPrt bool   // partitioned
	ccols, pcols         []string
	def                  string // pg_get_constraintdef, fully qualified
	validated            bool
}

func relExpr(name string, partitioned bool) string {
	if partitioned {
		return name
	}
	return "ONLY " + name
}

// foreignKeys lists every foreign key with either side among tables (or
// their partitions). Definitions are read with an empty search_path, so they
// name everything with its schema; the customer's search_path is put back at
// once, since their CHECK functions may rely on it.
func foreignKeys(ctx context.Context, tx pgx.Tx, tables []Table) ([]foreignKey, error) {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Quoted()
	}
	var path string
	if err := tx.QueryRow(ctx, `SELECT current_setting('search_path'), set_config('search_path', '', true)`).Scan(&path, new(string)); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `
		WITH sel AS (SELECT n::regclass AS oid FROM unnest($1::text[]) n
		             UNION SELECT p.relid FROM unnest($1::text[]) n, pg_partition_tree(n::regclass) p)
		SELECT con.conname, con.conrelid::regclass::text, con.confrelid::regclass::text,
		       (SELECT relkind = 'p' FROM pg_class WHERE oid = con.conrelid),
		       (SELECT relkind = 'p' FROM pg_class WHERE oid = con.confrelid),
		       (SELECT array_agg(quote_ident(attname) ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
		          JOIN pg_attribute ON attrelid = con.conrelid AND attnum = k.n),
		       (SELECT array_agg(quote_ident(attname) ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
		          JOIN pg_attribute ON attrelid = con.confrelid AND attnum = k.n),
		       pg_get_constraintdef(con.oid), con.convalidated
		FROM pg_constraint con
		WHERE con.contype = 'f' AND con.conparentid = 0
		  AND (con.conrelid IN (SELECT oid FROM sel) OR con.confrelid IN (SELECT oid FROM sel))
		ORDER BY 2, 1`, names)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	fks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (foreignKey, error) {
		var f foreignKey
		return f, r.Scan(&f.name, &f.child, &f.parent, &f.childPart, &f.parentPrt, &f.ccols, &f.pcols, &f.def, &f.validated)
	})
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, path); err != nil {
		return nil, err
	}
	return fks, nil
}

// danglingRows counts the rows of f's child that point at no row of its parent.
func (f foreignKey) danglingRows(ctx context.Context, tx pgx.Tx) (int64, error) {
	var notNull, match []string
	for i := range f.ccols {
		notNull = append(notNull, "c."+f.ccols[i]+" IS NOT NULL")
		match = append(match, "p."+f.pcols[i]+" = c."+f.ccols[i])
	}
	q := fmt.Sprintf(`SELECT count(*) FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s)`,
		relExpr(f.child, f.childPart), strings.Join(notNull, " AND "), relExpr(f.parent, f.parentPrt), strings.Join(match, " AND "))
	var n int64
	if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("check foreign key %s: %w", f.name, err)
	}
	return n, nil
}

// restoreForeignKeys checks and re-adds the dropped keys. A key that was
// valid and now has dangling rows fails the swap with a DanglingError, or
// with allow comes back NOT VALID and is reported. Re-adding a valid key
// validates it: Postgres itself confirms the check.
func restoreForeignKeys(ctx context.Context, tx pgx.Tx, fks []foreignKey, allow bool) ([]string, error) {
	var refs []string
	notValid := map[string]bool{}
	for _, f := range fks {
		if !f.validated {
			continue
		}
		n, err := f.danglingRows(ctx, tx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			refs = append(refs, fmt.Sprintf("%d rows of %s (%s) point at missing rows of %s (foreign key %s)",
				n, f.child, strings.Join(f.ccols, ", "), f.parent, f.name))
			notValid[f.child+"."+f.name] = true
		}
	}
	if len(refs) > 0 && !allow {
		return nil, &DanglingError{Refs: refs}
	}
	for _, f := range fks {
		def := f.def
		if notValid[f.child+"."+f.name] {
			def += " NOT VALID"
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+relExpr(f.child, f.childPart)+" ADD CONSTRAINT "+ident(f.name)+" "+def); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23503" {
				return nil, &DanglingError{Refs: []string{fmt.Sprintf("foreign key %s of %s: %s", f.name, f.child, pe.Detail)}}
			}
			return nil, fmt.Errorf("re-add foreign key %s of %s: %w", f.name, f.child, err)
		}
	}
	return refs, nil
}

// triggerState is a customer trigger a swap disabled, and how it was enabled.
type triggerState struct {
	rel, name string // rel quoted
	enabled   byte   // 'O', 'A' or 'R'
}

type triggerStates []triggerState

// disableTriggers turns off the enabled user triggers of the tables (and of
// their partitions), so the rows load as they were kept or restored: a
// trigger stamping updated_at or writing an audit row would change them. The
// tables' owner may do this; replica mode would need a superuser.
func disableTriggers(ctx context.Context, tx pgx.Tx, rels []swapRel) (triggerStates, error) {
	names := make([]string, len(rels))
	for i, r := range rels {
		names[i] = r.t.Quoted()
	}
	rows, err := tx.Query(ctx, `
		WITH sel AS (SELECT n::regclass AS oid FROM unnest($1::text[]) n
		             UNION SELECT p.relid FROM unnest($1::text[]) n, pg_partition_tree(n::regclass) p)
		SELECT format('%I.%I', n.nspname, c.relname), t.tgname, t.tgenabled::text
		FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE t.tgrelid IN (SELECT oid FROM sel) AND NOT t.tgisinternal AND t.tgenabled <> 'D'
		ORDER BY 1, 2`, names)
	if err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (triggerState, error) {
		var t triggerState
		var en string
		err := r.Scan(&t.rel, &t.name, &en)
		if len(en) == 1 {
			t.enabled = en[0]
		}
		return t, err
	})
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if _, err := tx.Exec(ctx, "ALTER TABLE ONLY "+t.rel+" DISABLE TRIGGER "+ident(t.name)); err != nil {
			return nil, fmt.Errorf("disable trigger %s on %s: %w", t.name, t.rel, err)
		}
	}
	return ts, nil
}

func (ts triggerStates) names() []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.rel+"."+ident(t.name))
	}
	return out
}

func (ts triggerStates) enable(ctx context.Context, tx pgx.Tx) error {
	for _, t := range ts {
		how := "ENABLE TRIGGER "
		switch t.enabled {
		case 'A':
			how = "ENABLE ALWAYS TRIGGER "
		case 'R':
			how = "ENABLE REPLICA TRIGGER "
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE ONLY "+t.rel+" "+how+ident(t.name)); err != nil {
			return fmt.Errorf("enable trigger %s on %s again: %w", t.name, t.rel, err)
		}
	}
	return nil
}

// ownedSeq is a sequence owned by a column of a swapped table, with the
// highest value seen for it.
type ownedSeq struct {
	seq  string // quoted, as pg_get_serial_sequence
	rel  swapRel
	col  string
	high *int64
}

type ownedSeqs []*ownedSeq

func (s *ownedSeq) see(v *int64) {
	if v != nil && (s.high == nil || *v > *s.high) {
		x := *v
		s.high = &x
	}
}

// ownedSequences finds the sequences behind serial and identity columns.
func ownedSequences(ctx context.Context, tx pgx.Tx, rels []swapRel) (ownedSeqs, error) {
	var out ownedSeqs
	for _, r := range rels {
		for _, c := range r.cols {
			var seq *string
			if err := tx.QueryRow(ctx, `SELECT pg_get_serial_sequence($1, $2)`, r.t.Quoted(), c.name).Scan(&seq); err != nil {
				return nil, fmt.Errorf("sequence of %s.%s: %w", r.t, c.name, err)
			}
			if seq != nil {
				out = append(out, &ownedSeq{seq: *seq, rel: r, col: c.name})
			}
		}
	}
	return out, nil
}

// note takes in the highest key now in each table.
func (ss ownedSeqs) note(ctx context.Context, tx pgx.Tx) error {
	for _, s := range ss {
		var v *int64
		if err := tx.QueryRow(ctx, "SELECT max("+ident(s.col)+")::bigint FROM "+s.rel.from()).Scan(&v); err != nil {
			return fmt.Errorf("highest %s of %s: %w", s.col, s.rel.t, err)
		}
		s.see(v)
	}
	return nil
}

// noteSource takes in the values the source database's sequences reached.
func (ss ownedSeqs) noteSource(ctx context.Context, src *pgx.Conn) error {
	for _, s := range ss {
		var exists bool
		if err := src.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.seq).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			continue
		}
		v, err := seqUsed(ctx, src, s.seq)
		if err != nil {
			return err
		}
		s.see(v)
	}
	return nil
}

// seqUsed is the last value sequence seq handed out (nil if none).
func seqUsed(ctx context.Context, q dbx.DBTX, seq string) (*int64, error) {
	var last int64
	var called bool
	if err := q.QueryRow(ctx, "SELECT last_value, is_called FROM "+seq).Scan(&last, &called); err != nil {
		return nil, fmt.Errorf("read sequence %s: %w", seq, err)
	}
	if !called {
		last--
	}
	return &last, nil
}

// set moves each sequence past every key seen, never backwards, and returns
// the values set. Descending sequences are left alone.
func (ss ownedSeqs) set(ctx context.Context, tx pgx.Tx) (map[string]int64, error) {
	out := map[string]int64{}
	for _, s := range ss {
		var inc, minv int64
		if err := tx.QueryRow(ctx, `SELECT seqincrement, seqmin FROM pg_sequence WHERE seqrelid = $1::regclass`, s.seq).Scan(&inc, &minv); err != nil {
			return nil, fmt.Errorf("sequence %s: %w", s.seq, err)
		}
		if inc < 0 {
			continue
		}
		cur, err := seqUsed(ctx, tx, s.seq)
		if err != nil {
			return nil, err
		}
		s.see(cur)
		if s.high == nil || *s.high < minv || *s.high == *cur {
			continue
		}
		if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, $2, true)`, s.seq, *s.high); err != nil {
			return nil, fmt.Errorf("set sequence %s: %w", s.seq, err)
		}
		out[s.seq] = *s.high
	}
	return out, nil
}
