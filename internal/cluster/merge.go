package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MergeTable is one table of an undelete and which of its snapshot rows are
// candidates: all of them, the listed keys, or those matching Filter.
type MergeTable struct {
	Table  Table
	Keys   []string // primary-key values as text (a one-column key only)
	Filter *MergeFilter
}

func (t MergeTable) table() Table { return t.Table }

// plainTables is the tables of a merge's or unmerge's list.
func plainTables[T interface{ table() Table }](tables []T) []Table {
	out := make([]Table, len(tables))
	for i, t := range tables {
		out[i] = t.table()
	}
	return out
}

// MergeFilter is "column operator value", from form fields: Column must be a
// column of the table (it is quoted), Op one of MergeOps, and Value is bound
// as a parameter cast to the column's type. Never SQL.
type MergeFilter struct {
	Column, Op, Value string
}

// MergeOps maps the filter operators to their SQL.
var MergeOps = map[string]string{
	"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
	"like": "LIKE", "is_null": "IS NULL", "not_null": "IS NOT NULL",
}

// MergeOptions tune MergeRows.
type MergeOptions struct {
	// LockTimeout bounds one attempt at locking the tables (default 2s);
	// LockWait all attempts together (default 2m).
	LockTimeout, LockWait time.Duration
	OnLockWait            func(LockWait)
	// BeforeCommit runs once everything is inserted, with the report (XID
	// and every inserted key); the caller records it, so a retry can ask
	// XactStatus whether the merge committed. An error rolls it back.
	BeforeCommit func(ctx context.Context, m Merged) error
	// BeforeRollbackCommit is BeforeCommit for UnmergeRows.
	BeforeRollbackCommit func(ctx context.Context, u Unmerged) error
	// Step is told "locked", "loaded <table>", "merged <table>", "sequences".
	Step func(step string)
}

func (o MergeOptions) step(s string) {
	if o.Step != nil {
		o.Step(s)
	}
}

// MaxConflictSamples is how many conflicting keys a merge names per table.
const MaxConflictSamples = 20

// MergedTable reports the merge of one table.
type MergedTable struct {
	Table      string   `json:"table"`
	KeyColumns []string `json:"key_columns"`
	// Candidates are the snapshot rows considered (after the limit).
	Candidates int64 `json:"candidates"`
	Inserted   int64 `json:"inserted"`
	// Conflicts are candidates whose key exists live with other content;
	// Unchanged those whose key exists live with the same content.
	Conflicts       int64    `json:"conflicts"`
	ConflictSamples []string `json:"conflict_samples,omitempty"`
	Unchanged       int64    `json:"unchanged"`
	// OtherKey are candidates missing live by primary key that another
	// unique constraint refused (a live row holds that value now).
	OtherKey int64 `json:"other_key,omitempty"`
	// Keys are the inserted rows' primary keys, each the text of its key
	// columns in KeyColumns' order.
	Keys [][]string `json:"-"`
}

// Merged reports a committed MergeRows.
type Merged struct {
	Tables     []MergedTable    `json:"tables"` // in the order merged (parents first)
	Sequences  map[string]int64 `json:"sequences,omitempty"`
	XID        uint64           `json:"-"`
	LockWaited time.Duration    `json:"-"`
}

// NoPrimaryKeyError refuses a table an undelete cannot merge.
type NoPrimaryKeyError struct{ Table string }

func (e *NoPrimaryKeyError) Error() string {
	return fmt.Sprintf("table %s has no primary key: an undelete tells missing rows by their key, so it cannot merge this table (use a destructive or new-project restore)", e.Table)
}

// MergeRows inserts into the live tables the rows of the staging database's
// copies whose primary key is missing live, in one transaction on live (a
// session of the tables' owner), and never updates or deletes a live row:
//
//   - the tables are locked SHARE ROW EXCLUSIVE in one statement (readers go
//     on, writers wait), with lock_timeout, retried with backoff until
//     LockWait;
//   - in foreign-key order (parents first), each table's staging rows are
//     streamed by COPY into a temporary table, the candidates (all rows, or
//     the listed keys, or those matching the filter, its value a bound
//     parameter) are compared with live by key: missing ones are inserted
//     (ON CONFLICT DO NOTHING, so another unique key a live row holds skips
//     the row, counted), existing ones with other content are conflicts,
//     counted with up to MaxConflictSamples keys, and left alone;
//   - owned sequences move past the highest key now in the table (forward
//     only).
//
// A failure anywhere before the commit leaves live unchanged.
func MergeRows(ctx context.Context, live, staging *pgx.Conn, tables []MergeTable, opt MergeOptions) (Merged, error) {
	if len(tables) == 0 {
		return Merged{}, errors.New("an undelete needs at least one table")
	}
	var out Merged
	asText := false
	err := withLockRetry(ctx, live, opt.LockWait, opt.OnLockWait, func() error {
		var err error
		out, err = mergeOnce(ctx, live, staging, tables, opt, asText)
		var pe *pgconn.PgError
		if !asText && errors.As(err, &pe) && pe.Code == "42883" {
			// A column type without an equality operator (json, point):
			// compare the rows' text instead, in a new transaction.
			asText = true
			out, err = mergeOnce(ctx, live, staging, tables, opt, asText)
		}
		return err
	}, &out.LockWaited)
	return out, err
}

// withLockRetry runs once until it succeeds or fails with something other
// than a lock timeout, backing off between attempts, for at most wait.
func withLockRetry(ctx context.Context, live *pgx.Conn, wait time.Duration, onWait func(LockWait), once func() error, waited *time.Duration) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := once()
		var le *lockError
		if err == nil || !errors.As(err, &le) {
			if err == nil {
				*waited = time.Since(start)
			}
			return err
		}
		holders := lockHolders(ctx, live, le.names)
		w := time.Since(start)
		if onWait != nil {
			onWait(LockWait{Attempt: attempt, Waited: w, Holders: holders})
		}
		if w >= cmpDur(wait, 2*time.Minute) {
			return fmt.Errorf("could not lock the tables within %s (%d sessions hold locks on them); nothing was changed: %w",
				w.Round(time.Second), holders, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt)*200*time.Millisecond, 2*time.Second)):
		}
	}
}

// mergeRel is a live table of a merge, under its lock.
type mergeRel struct {
	swapRel
	pk    []column // primary-key columns, in key order
	limit MergeTable
}

// keyedRels reads each relation's columns and primary key, for a merge or
// an unmerge.
func keyedRels(ctx context.Context, tx pgx.Tx, srels []swapRel) ([]mergeRel, error) {
	rels := make([]mergeRel, len(srels))
	for i := range srels {
		rels[i] = mergeRel{swapRel: srels[i]}
		var err error
		if rels[i].cols, err = columns(ctx, tx, rels[i].t); err != nil {
			return nil, err
		}
		if rels[i].pk, err = primaryKey(ctx, tx, rels[i].swapRel); err != nil {
			return nil, err
		}
	}
	return rels, nil
}

// mergeOnce runs one attempt. Rows are compared with their types' equality
// (fast), or with asText by their text (for types that have none).
func mergeOnce(ctx context.Context, live, staging *pgx.Conn, tables []MergeTable, opt MergeOptions, asText bool) (out Merged, err error) {
	tx, srels, err := beginRels(ctx, live, opt.LockTimeout, plainTables(tables))
	if err != nil {
		return out, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if err := lockRels(ctx, tx, srels, "SHARE ROW EXCLUSIVE"); err != nil {
		return out, err
	}
	opt.step("locked")
	rels, err := keyedRels(ctx, tx, srels)
	if err != nil {
		return out, err
	}
	for i := range rels {
		rels[i].limit = tables[i]
	}
	if rels, err = fkOrder(ctx, tx, rels); err != nil {
		return out, err
	}
	if out.XID, err = currentXID(ctx, tx); err != nil {
		return out, err
	}
	for i, r := range rels {
		m, err := mergeTable(ctx, tx, staging, r, i, opt, asText)
		if err != nil {
			return out, err
		}
		out.Tables = append(out.Tables, m)
	}
	opt.step("sequences")
	all := make([]swapRel, len(rels))
	for i, r := range rels {
		all[i] = r.swapRel
	}
	seqs, err := ownedSequences(ctx, tx, all)
	if err != nil {
		return out, err
	}
	if err := seqs.note(ctx, tx); err != nil {
		return out, err
	}
	if out.Sequences, err = seqs.set(ctx, tx); err != nil {
		return out, err
	}
	if err := recordBeforeCommit(ctx, opt.BeforeCommit, out, "undelete"); err != nil {
		return out, err
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("commit the undelete: %w", err)
	}
	return out, nil
}

// lockRels locks rels in mode in one statement; a timeout is a lockError.
func lockRels(ctx context.Context, tx pgx.Tx, rels []swapRel, mode string) error {
	var lock, names []string
	for _, r := range rels {
		lock = append(lock, r.from())
		names = append(names, r.name)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(lock, ", ")+" IN "+mode+" MODE"); err != nil {
		err = fmt.Errorf("lock %s: %w", strings.Join(lock, ", "), err)
		if isLockTimeout(err) {
			return &lockError{names: names, err: err}
		}
		return err
	}
	return nil
}

func currentXID(ctx context.Context, tx pgx.Tx) (uint64, error) {
	var s string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&s); err != nil {
		return 0, err
	}
	x, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("transaction id %q: %w", s, err)
	}
	return x, nil
}

// mergeTable merges one table inside the merge's transaction.
func mergeTable(ctx context.Context, tx pgx.Tx, staging *pgx.Conn, r mergeRel, i int, opt MergeOptions, asText bool) (MergedTable, error) {
	m := MergedTable{Table: r.t.String()}
	for _, c := range r.pk {
		m.KeyColumns = append(m.KeyColumns, c.name)
	}
	list := insertable(r.cols)
	tmp := ident(fmt.Sprintf("portal_merge_%d", i))
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+tmp+" ON COMMIT DROP AS SELECT "+list+" FROM "+r.from()+" WITH NO DATA"); err != nil {
		return m, fmt.Errorf("temporary table for %s: %w", r.t, err)
	}
	read, wrote, err := pipeCopy(ctx, staging, "COPY (SELECT "+list+" FROM "+r.from()+") TO STDOUT",
		tx.Conn(), "COPY pg_temp."+tmp+" ("+list+") FROM STDIN")
	if err != nil {
		return m, fmt.Errorf("stream the snapshot's rows of %s: %w", r.t, err)
	}
	if read != wrote {
		return m, fmt.Errorf("stream the snapshot's rows of %s: read %d, wrote %d", r.t, read, wrote)
	}
	// No ANALYZE: the planner sizes a temporary table from its pages, which
	// is enough for the hash joins below, and sampling costs more than it saves.
	opt.step("loaded " + r.t.String())
	where, args, err := limitSQL(r)
	if err != nil {
		return m, err
	}
	var on, lrow, srow, skey []string
	for _, c := range r.pk {
		q := ident(c.name)
		on = append(on, "l."+q+" = s."+q)
		skey = append(skey, "s."+q+"::text")
	}
	for _, c := range r.cols {
		if !c.generated {
			lrow = append(lrow, "l."+ident(c.name))
			srow = append(srow, "s."+ident(c.name))
		}
	}
	join := " FROM pg_temp." + tmp + " s LEFT JOIN " + r.from() + " l ON " + strings.Join(on, " AND ") + " WHERE " + where
	differs := "ROW(" + strings.Join(lrow, ", ") + ") IS DISTINCT FROM ROW(" + strings.Join(srow, ", ") + ")"
	if asText {
		differs = "ROW(" + strings.Join(lrow, ", ") + ")::text IS DISTINCT FROM ROW(" + strings.Join(srow, ", ") + ")::text"
	}
	matched := "l." + ident(r.pk[0].name) + " IS NOT NULL"
	var found int64
	if err := tx.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE "+matched+"), count(*) FILTER (WHERE "+matched+" AND "+differs+")"+join, args...).
		Scan(&m.Candidates, &found, &m.Conflicts); err != nil {
		return m, fmt.Errorf("compare the snapshot's rows of %s with live: %w", r.t, err)
	}
	m.Unchanged = found - m.Conflicts
	if m.Conflicts > 0 {
		var order []string
		for _, c := range r.pk {
			order = append(order, "s."+ident(c.name))
		}
		rows, err := tx.Query(ctx, "SELECT "+strings.Join(skey, ", ")+join+" AND "+matched+" AND "+differs+
			" ORDER BY "+strings.Join(order, ", ")+" LIMIT "+strconv.Itoa(MaxConflictSamples), args...)
		if err != nil {
			return m, fmt.Errorf("sample the conflicts of %s: %w", r.t, err)
		}
		keys, err := collectKeys(rows, len(r.pk))
		if err != nil {
			return m, fmt.Errorf("sample the conflicts of %s: %w", r.t, err)
		}
		for _, k := range keys {
			m.ConflictSamples = append(m.ConflictSamples, KeyString(m.KeyColumns, k))
		}
	}
	var ret []string
	for _, c := range r.pk {
		ret = append(ret, ident(c.name)+"::text")
	}
	rows, err := tx.Query(ctx, "INSERT INTO "+r.t.Quoted()+" ("+list+") OVERRIDING SYSTEM VALUE SELECT "+strings.Join(srow, ", ")+
		join+" AND l."+ident(r.pk[0].name)+" IS NULL ON CONFLICT DO NOTHING RETURNING "+strings.Join(ret, ", "), args...)
	if err != nil {
		return m, insertError(r.t, err)
	}
	if m.Keys, err = collectKeys(rows, len(r.pk)); err != nil {
		return m, insertError(r.t, err)
	}
	m.Inserted = int64(len(m.Keys))
	m.OtherKey = m.Candidates - found - m.Inserted
	opt.step("merged " + r.t.String())
	return m, nil
}

func insertError(t Table, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return fmt.Errorf("insert the missing rows of %s: a snapshot row points at a row that is missing live (%s); add that table to the undelete, nothing was changed: %w", t, pe.Detail, err)
	}
	return fmt.Errorf("insert the missing rows of %s, nothing was changed: %w", t, err)
}

func collectKeys(rows pgx.Rows, n int) ([][]string, error) {
	var out [][]string
	defer rows.Close()
	for rows.Next() {
		k := make([]*string, n)
		dst := make([]any, n)
		for i := range k {
			dst[i] = &k[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		v := make([]string, n)
		for i, s := range k {
			if s != nil {
				v[i] = *s
			}
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// KeyString shows a key for people: "id=7", "(a, b)=(1, x)".
func KeyString(cols, vals []string) string {
	if len(cols) == 1 && len(vals) == 1 {
		return cols[0] + "=" + vals[0]
	}
	return "(" + strings.Join(cols, ", ") + ")=(" + strings.Join(vals, ", ") + ")"
}
