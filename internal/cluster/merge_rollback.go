package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// UnmergeTable is a table of an undelete's rollback: the keys the merge
// inserted (each the text of KeyColumns' values).
type UnmergeTable struct {
	Table      Table
	KeyColumns []string
	Keys       [][]string
}

func (t UnmergeTable) table() Table { return t.Table }

// Unmerged reports a committed UnmergeRows, per table.
type Unmerged struct {
	Deleted map[string]int64 `json:"deleted"`
	// Gone are recorded keys no longer live (deleted since by someone else).
	Gone map[string]int64 `json:"gone,omitempty"`
	// ChangedSince are deleted rows that were updated after the merge.
	ChangedSince map[string]int64 `json:"changed_since,omitempty"`
	XID          uint64           `json:"-"`
}

// ReferencedError refuses an undelete's rollback: rows written since point
// at rows it would delete.
type ReferencedError struct{ Refs []string }

func (e *ReferencedError) Error() string {
	return "rows written since the undelete reference rows it inserted, so nothing was deleted: " + strings.Join(e.Refs, "; ")
}

// UnmergeRows deletes exactly the rows a merge inserted, in one transaction
// on live: the tables and every table with a foreign key into them are
// locked SHARE ROW EXCLUSIVE (lock_timeout, retried), the recorded keys are
// loaded into temporary tables, and rows of other tables (or of these,
// outside the recorded keys) that reference them refuse the rollback with a
// ReferencedError naming them, before anything is deleted (a cascading key
// would otherwise delete them silently). Deletes run children first.
// mergeXID, when set, tells which deleted rows were changed since the merge
// (their xmin is another transaction's).
func UnmergeRows(ctx context.Context, live *pgx.Conn, tables []UnmergeTable, mergeXID uint64, opt MergeOptions) (Unmerged, error) {
	var out Unmerged
	var waited time.Duration
	err := withLockRetry(ctx, live, opt.LockWait, opt.OnLockWait, func() error {
		var err error
		out, err = unmergeOnce(ctx, live, tables, mergeXID, opt)
		return err
	}, &waited)
	return out, err
}

func unmergeOnce(ctx context.Context, live *pgx.Conn, tables []UnmergeTable, mergeXID uint64, opt MergeOptions) (out Unmerged, err error) {
	plain := plainTables(tables)
	tx, srels, err := beginRels(ctx, live, opt.LockTimeout, plain)
	if err != nil {
		return out, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	fks, err := foreignKeys(ctx, tx, plain)
	if err != nil {
		return out, err
	}
	inSet := map[string]int{}
	for i, r := range srels {
		inSet[r.name] = i
	}
	lock := slices.Clone(srels)
	seen := map[string]bool{}
	for _, r := range srels {
		seen[r.name] = true
	}
	for _, f := range fks {
		if _, ok := inSet[f.parent]; ok && !seen[f.child] {
			seen[f.child] = true
			lock = append(lock, swapRel{name: f.child, partitioned: f.childPart, t: Table{}})
		}
	}
	if err := lockRelsNamed(ctx, tx, lock); err != nil {
		return out, err
	}
	opt.step("locked")
	if out.XID, err = currentXID(ctx, tx); err != nil {
		return out, err
	}
	rels, err := keyedRels(ctx, tx, srels)
	if err != nil {
		return out, err
	}
	tmp := make([]string, len(srels))
	for i := range rels {
		var have []string
		for _, c := range rels[i].pk {
			have = append(have, c.name)
		}
		if !slices.Equal(have, tables[i].KeyColumns) {
			return out, fmt.Errorf("%s: the primary key is (%s) now, the undelete recorded (%s): nothing was deleted",
				rels[i].t, strings.Join(have, ", "), strings.Join(tables[i].KeyColumns, ", "))
		}
		tmp[i] = ident(fmt.Sprintf("portal_unmerge_%d", i))
		if err := loadKeys(ctx, tx, tmp[i], rels[i].pk, tables[i].Keys); err != nil {
			return out, fmt.Errorf("%s: %w", rels[i].t, err)
		}
	}
	// References into the rows to delete, from rows that stay.
	var refs []string
	for _, f := range fks {
		pi, ok := inSet[f.parent]
		if !ok {
			continue
		}
		found, err := referencing(ctx, tx, f, rels[pi], tmp[pi], inSet, rels, tmp)
		if err != nil {
			return out, err
		}
		refs = append(refs, found...)
	}
	if len(refs) > 0 {
		return out, &ReferencedError{Refs: refs}
	}
	order, err := fkOrder(ctx, tx, rels)
	if err != nil {
		return out, err
	}
	out.Deleted, out.Gone, out.ChangedSince = map[string]int64{}, map[string]int64{}, map[string]int64{}
	xid32 := strconv.FormatUint(mergeXID&0xffffffff, 10)
	for j := len(order) - 1; j >= 0; j-- {
		r := order[j]
		i := slices.IndexFunc(rels, func(x mergeRel) bool { return x.name == r.name })
		var on []string
		for _, c := range r.pk {
			on = append(on, "l."+ident(c.name)+" = k."+ident(c.name))
		}
		var deleted, changed int64
		err := tx.QueryRow(ctx, "WITH d AS (DELETE FROM "+r.from()+" l USING pg_temp."+tmp[i]+" k WHERE "+strings.Join(on, " AND ")+
			" RETURNING l.xmin::text AS x) SELECT count(*), count(*) FILTER (WHERE x <> $1) FROM d", xid32).Scan(&deleted, &changed)
		if err != nil {
			return out, fmt.Errorf("delete the undeleted rows of %s: %w", r.t, err)
		}
		n := r.t.String()
		out.Deleted[n] = deleted
		if g := int64(len(tables[i].Keys)) - deleted; g > 0 {
			out.Gone[n] = g
		}
		if mergeXID != 0 && changed > 0 {
			out.ChangedSince[n] = changed
		}
	}
	opt.step("deleted")
	if err := recordBeforeCommit(ctx, opt.BeforeRollbackCommit, out, "rollback"); err != nil {
		return out, err
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("commit the rollback: %w", err)
	}
	return out, nil
}

// lockRelsNamed locks rels by their quoted names (foreign-key neighbours
// are known by name only).
func lockRelsNamed(ctx context.Context, tx pgx.Tx, rels []swapRel) error {
	var lock, names []string
	for _, r := range rels {
		lock = append(lock, relExpr(r.name, r.partitioned))
		names = append(names, r.name)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(lock, ", ")+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		err = fmt.Errorf("lock %s: %w", strings.Join(lock, ", "), err)
		if isLockTimeout(err) {
			return &lockError{names: names, err: err}
		}
		return err
	}
	return nil
}

// loadKeys makes temporary table tmp of the key columns pk holding keys, each
// value cast from its text to the column's type.
func loadKeys(ctx context.Context, tx pgx.Tx, tmp string, pk []column, keys [][]string) error {
	arrays := make([]any, len(pk))
	var sel, params []string
	for i, c := range pk {
		vals := make([]string, len(keys))
		for j, k := range keys {
			if len(k) != len(pk) {
				return fmt.Errorf("recorded key %v does not have %d columns", k, len(pk))
			}
			vals[j] = k[i]
		}
		arrays[i] = vals
		params = append(params, fmt.Sprintf("$%d::text[]", i+1))
		sel = append(sel, fmt.Sprintf("CAST(u.k%d AS %s) AS %s", i, c.typ, ident(c.name)))
	}
	var cols []string
	for i := range pk {
		cols = append(cols, fmt.Sprintf("k%d", i))
	}
	_, err := tx.Exec(ctx, "CREATE TEMP TABLE "+tmp+" ON COMMIT DROP AS SELECT "+strings.Join(sel, ", ")+
		" FROM unnest("+strings.Join(params, ", ")+") AS u("+strings.Join(cols, ", ")+")", arrays...)
	if err != nil {
		return fmt.Errorf("load the recorded keys: %w", err)
	}
	_, err = tx.Exec(ctx, "ANALYZE pg_temp."+tmp)
	return err
}

// referencing names up to MaxConflictSamples rows of f's child that point at
// rows to be deleted from parent (keys in ptmp) and are not deleted
// themselves.
func referencing(ctx context.Context, tx pgx.Tx, f foreignKey, parent mergeRel, ptmp string, inSet map[string]int, rels []mergeRel, tmp []string) ([]string, error) {
	var match, pon []string
	for i := range f.ccols {
		match = append(match, "p."+f.pcols[i]+" = c."+f.ccols[i])
	}
	for _, c := range parent.pk {
		pon = append(pon, "p."+ident(c.name)+" = k."+ident(c.name))
	}
	childKey := "c.ctid::text"
	var childCols []string
	exclude := ""
	if ci, ok := inSet[f.child]; ok {
		var con, keys []string
		for _, c := range rels[ci].pk {
			con = append(con, "x."+ident(c.name)+" = c."+ident(c.name))
			keys = append(keys, "c."+ident(c.name)+"::text")
			childCols = append(childCols, c.name)
		}
		childKey = strings.Join(keys, " || ', ' || ")
		exclude = " AND NOT EXISTS (SELECT 1 FROM pg_temp." + tmp[ci] + " x WHERE " + strings.Join(con, " AND ") + ")"
	} else if pk, err := childPK(ctx, tx, f.child); err != nil {
		return nil, err
	} else if len(pk) > 0 {
		var keys []string
		for _, c := range pk {
			keys = append(keys, "c."+ident(c)+"::text")
		}
		childKey, childCols = strings.Join(keys, " || ', ' || "), pk
	}
	var pkeys []string
	for _, c := range parent.pk {
		pkeys = append(pkeys, "p."+ident(c.name)+"::text")
	}
	q := "SELECT " + childKey + ", " + strings.Join(pkeys, " || ', ' || ") + ", count(*) OVER ()" +
		" FROM " + relExpr(f.child, f.childPart) + " c JOIN " + parent.from() + " p ON " + strings.Join(match, " AND ") +
		" JOIN pg_temp." + ptmp + " k ON " + strings.Join(pon, " AND ") + " WHERE true" + exclude +
		" ORDER BY 1 LIMIT " + strconv.Itoa(MaxConflictSamples)
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("check references into %s (foreign key %s of %s): %w", parent.t, f.name, f.child, err)
	}
	defer rows.Close()
	var out []string
	var total int64
	var pcols []string
	for _, c := range parent.pk {
		pcols = append(pcols, c.name)
	}
	for rows.Next() {
		var ck, pk string
		if err := rows.Scan(&ck, &pk, &total); err != nil {
			return nil, err
		}
		what := "row at " + ck
		if len(childCols) > 0 {
			what = "row " + KeyString(childCols, strings.Split(ck, ", "))
		}
		out = append(out, fmt.Sprintf("%s %s references %s %s (foreign key %s)", f.child, what, parent.t, KeyString(pcols, strings.Split(pk, ", ")), f.name))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if total > int64(len(out)) {
		out = append(out, fmt.Sprintf("and %d more rows of %s", total-int64(len(out)), f.child))
	}
	return out, nil
}

// childPK is the primary-key column names of the table named name (quoted,
// qualified), none when it has none.
func childPK(ctx context.Context, tx pgx.Tx, name string) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT a.attname FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord), pg_attribute a
		WHERE i.indrelid = $1::regclass AND i.indisprimary AND a.attrelid = i.indrelid AND a.attnum = k.attnum
		ORDER BY k.ord`, name)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", name, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	return out, nil
}
