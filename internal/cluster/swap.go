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

// Source is where the replacement rows of a table swap come from: a staging
// database holding the same tables (Schema empty), or a kept copy made by an
// earlier swap (Schema names it in the database of Conn; see Keep).
type Source struct {
	Conn   *pgx.Conn
	Schema string
}

// SwapOptions tune ReplaceRows.
type SwapOptions struct {
	// AllowDangling re-adds a foreign key that the new rows break as NOT VALID
	// and reports the broken references instead of refusing.
	AllowDangling bool
	// LockTimeout bounds one attempt at locking the tables (default 2s);
	// LockWait bounds all attempts together (default 2m).
	LockTimeout, LockWait time.Duration
	// OnLockWait is told about every failed lock attempt, so a ticket can show
	// that the swap waits for other sessions and for how long.
	OnLockWait func(LockWait)
	// BeforeCommit runs after every check passed and the kept copy is
	// complete, with the swap's report (XID is the live transaction's id);
	// the caller records it, so a retry after a crash can ask Postgres
	// (XactStatus) whether the swap committed. An error rolls the swap back.
	BeforeCommit func(ctx context.Context, sw Swapped) error
	// Step, when set, is told the name of each step as it starts ("locked",
	// "kept", "cleared", "loaded", "checked"), for progress and fault tests.
	Step func(step string)
}

// LockWait describes a failed attempt to lock a swap's tables.
type LockWait struct {
	Attempt int
	Waited  time.Duration
	// Holders is how many other sessions hold locks on the tables.
	Holders int
}

// Swapped reports a committed ReplaceRows.
type Swapped struct {
	Before   map[string]int64  // live rows before, all kept
	After    map[string]int64  // rows loaded from the source
	Kept     map[string]string // table -> its kept copy (schema.name in the keep database)
	Dangling []string          // broken references (only when allowed)
	// Sequences maps each owned sequence to the value it was set to.
	Sequences map[string]int64
	// XID is the live transaction's id (as pg_current_xact_id).
	XID uint64
	// LockWaited is how long taking the locks took.
	LockWaited time.Duration
	// DisabledTriggers are the user triggers held off during the load (and
	// enabled again before the commit).
	DisabledTriggers []string
}

func (o SwapOptions) step(s string) {
	if o.Step != nil {
		o.Step(s)
	}
}

// ReplaceRows swaps the rows of tables in the live database for the rows of
// src, in one transaction on live, after keeping the current rows in keep:
//
//   - every table it writes (tables and the tables of every foreign key
//     touching them) is locked ACCESS EXCLUSIVE in one statement, with
//     lock_timeout, retried with backoff until LockWait;
//   - the locked rows (the transaction's snapshot, so every row committed
//     before the lock) are copied over keep's connection into keep, in a
//     transaction there that commits only after the counts match;
//   - the foreign keys touching the tables are dropped (their definitions
//     kept from pg_get_constraintdef), the customer's enabled triggers on the
//     tables are disabled so the rows load as they were, the tables are
//     cleared with DELETE FROM ONLY (inheritance children keep their rows;
//     DELETE rather than TRUNCATE so a repeatable-read reader never sees the
//     tables empty), and src's rows are loaded with COPY;
//   - owned sequences are moved to a value past every key now in the table,
//     in the kept copy, and the sequence's current value (never backwards);
//   - the foreign keys are checked and re-added (ErrDangling unless
//     AllowDangling, then NOT VALID), the triggers enabled as they were.
//
// Nothing here needs superuser rights: live may be a session of the tables'
// owner, and the customer's code that a load runs (CHECK constraints,
// generated columns, index expressions) runs as that session's role. A
// failure anywhere before the commit leaves live unchanged; a kept copy may
// be left behind, partial or whole, and the next attempt replaces it.
func ReplaceRows(ctx context.Context, live *pgx.Conn, src Source, keep Keep, tables []Table, opt SwapOptions) (Swapped, error) {
	tables, err := topTables(ctx, live, tables)
	if err != nil {
		return Swapped{}, err
	}
	if len(tables) == 0 {
		return Swapped{}, errors.New("a table swap needs at least one table")
	}
	var out Swapped
	lockStart := time.Now()
	for attempt := 1; ; attempt++ {
		out, err = replaceOnce(ctx, live, src, keep, tables, opt)
		var le *lockError
		if err == nil || !errors.As(err, &le) {
			if err == nil {
				out.LockWaited = time.Since(lockStart)
			}
			return out, err
		}
		holders := lockHolders(ctx, live, le.names)
		waited := time.Since(lockStart)
		if opt.OnLockWait != nil {
			opt.OnLockWait(LockWait{Attempt: attempt, Waited: waited, Holders: holders})
		}
		if waited >= cmpDur(opt.LockWait, 2*time.Minute) {
			return Swapped{}, fmt.Errorf("could not lock the tables within %s (%d sessions hold locks on them); nothing was changed: %w",
				waited.Round(time.Second), holders, err)
		}
		backoff := min(time.Duration(attempt)*200*time.Millisecond, 2*time.Second)
		select {
		case <-ctx.Done():
			return Swapped{}, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

func cmpDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// swapRel is one live table a swap writes.
type swapRel struct {
	t           Table
	name        string // format('%I.%I'), as foreign keys name tables
	partitioned bool
	cols        []column
	kept        Table // its copy in keep
}

// from is the relation expression reading the table's own rows.
func (r swapRel) from() string {
	if r.partitioned {
		return r.t.Quoted()
	}
	return "ONLY " + r.t.Quoted()
}

// lockError is a lock attempt that timed out; names are the tables asked for.
type lockError struct {
	names []string
	err   error
}

func (e *lockError) Error() string { return e.err.Error() }
func (e *lockError) Unwrap() error { return e.err }

// beginLive begins the transaction a swap, merge or unmerge runs in on live:
// lock_timeout bounds each lock wait (timeout, 2 s when zero; the caller
// retries, withLockRetry), and row_security is off, so a table whose
// policies hide rows from this role makes the statement fail rather than
// keep, delete or compare only the visible rows.
func beginLive(ctx context.Context, live *pgx.Conn, timeout time.Duration) (pgx.Tx, error) {
	tx, err := live.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d; SET LOCAL row_security = off",
		cmpDur(timeout, 2*time.Second).Milliseconds())); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	return tx, nil
}

// recordBeforeCommit runs the caller's hook that records out (a swap's,
// merge's or unmerge's report) before the commit, when there is one; what
// names the operation in its error.
func recordBeforeCommit[T any](ctx context.Context, record func(context.Context, T) error, out T, what string) error {
	if record == nil {
		return nil
	}
	if err := record(ctx, out); err != nil {
		return fmt.Errorf("record the %s before its commit: %w", what, err)
	}
	return nil
}

// beginRels begins the live transaction (beginLive) and reads the tables'
// relations in it (swapRels). On an error it is rolled back already;
// otherwise the caller defers its rollback.
func beginRels(ctx context.Context, live *pgx.Conn, timeout time.Duration, tables []Table) (pgx.Tx, []swapRel, error) {
	tx, err := beginLive(ctx, live, timeout)
	if err != nil {
		return nil, nil, err
	}
	rels, err := swapRels(ctx, tx, tables)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return tx, rels, nil
}

func replaceOnce(ctx context.Context, live *pgx.Conn, src Source, keep Keep, tables []Table, opt SwapOptions) (out Swapped, err error) {
	ktx, err := keep.Conn.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("begin on the keep database: %w", err)
	}
	defer ktx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	tx, rels, err := beginRels(ctx, live, opt.LockTimeout, tables)
	if err != nil {
		return out, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	// Lock the tables and every table a foreign key links them to; a key
	// created meanwhile shows up in the second look and is locked too.
	locked := map[string]bool{}
	var fks []foreignKey
	for {
		fks, err = foreignKeys(ctx, tx, tables)
		if err != nil {
			return out, err
		}
		var lock []string
		for _, r := range rels {
			if !locked[r.name] {
				lock = append(lock, r.from())
				locked[r.name] = true
			}
		}
		for _, f := range fks {
			for _, n := range []struct {
				name string
				part bool
			}{{f.child, f.childPart}, {f.parent, f.parentPrt}} {
				if !locked[n.name] {
					lock = append(lock, relExpr(n.name, n.part))
					locked[n.name] = true
				}
			}
		}
		if len(lock) == 0 {
			break
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(lock, ", ")+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			err = fmt.Errorf("lock %s: %w", strings.Join(lock, ", "), err)
			if isLockTimeout(err) {
				var names []string
				for n := range locked {
					names = append(names, n)
				}
				return out, &lockError{names: names, err: err}
			}
			return out, err
		}
	}
	opt.step("locked")
	// Columns are read again under the lock: nobody can change them now.
	for i := range rels {
		if rels[i].cols, err = columns(ctx, tx, rels[i].t); err != nil {
			return out, err
		}
	}
	var xidText string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xidText); err != nil {
		return out, err
	}
	if out.XID, err = strconv.ParseUint(xidText, 10, 64); err != nil {
		return out, fmt.Errorf("transaction id %q: %w", xidText, err)
	}

	// Keep the current rows first, and note the highest keys.
	out.Before, out.After, out.Kept = map[string]int64{}, map[string]int64{}, map[string]string{}
	if err := keep.create(ctx, ktx); err != nil {
		return out, err
	}
	seqs, err := ownedSequences(ctx, tx, rels)
	if err != nil {
		return out, err
	}
	for i := range rels {
		r := &rels[i]
		r.kept = keptName(keep.Schema, r.t)
		n, err := keep.copyIn(ctx, ktx, tx.Conn(), *r, xidText)
		if err != nil {
			return out, err
		}
		out.Before[r.t.String()] = n
		out.Kept[r.t.String()] = r.kept.Schema + "." + r.kept.Name
	}
	if err := seqs.note(ctx, tx); err != nil {
		return out, err
	}
	opt.step("kept")

	for _, f := range fks {
		if _, err := tx.Exec(ctx, "ALTER TABLE "+relExpr(f.child, f.childPart)+" DROP CONSTRAINT "+ident(f.name)); err != nil {
			return out, fmt.Errorf("drop foreign key %s of %s for the swap: %w", f.name, f.child, err)
		}
	}
	trig, err := disableTriggers(ctx, tx, rels)
	if err != nil {
		return out, err
	}
	out.DisabledTriggers = trig.names()
	for _, r := range rels {
		tag, err := tx.Exec(ctx, "DELETE FROM "+r.from())
		if err != nil {
			return out, fmt.Errorf("clear %s: %w", r.t, err)
		}
		if tag.RowsAffected() != out.Before[r.t.String()] {
			return out, fmt.Errorf("%s: deleted %d rows but kept %d: nothing was changed", r.t, tag.RowsAffected(), out.Before[r.t.String()])
		}
	}
	opt.step("cleared")
	for _, r := range rels {
		n, err := loadFrom(ctx, src, tx.Conn(), r)
		if err != nil {
			return out, err
		}
		out.After[r.t.String()] = n
	}
	opt.step("loaded")
	if err := trig.enable(ctx, tx); err != nil {
		return out, err
	}
	if src.Schema == "" {
		if err := seqs.noteSource(ctx, src.Conn); err != nil {
			return out, err
		}
	}
	if err := seqs.note(ctx, tx); err != nil {
		return out, err
	}
	if out.Dangling, err = restoreForeignKeys(ctx, tx, fks, opt.AllowDangling); err != nil {
		return out, err
	}
	opt.step("checked")
	// setval is not transactional: it runs last, only ever forwards, so a
	// swap that fails after it leaves a sequence higher, never reused.
	if out.Sequences, err = seqs.set(ctx, tx); err != nil {
		return out, err
	}
	if err := recordBeforeCommit(ctx, opt.BeforeCommit, out, "swap"); err != nil {
		return out, err
	}
	if err := ktx.Commit(ctx); err != nil {
		return out, fmt.Errorf("commit the kept copy: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("commit the swap: %w", err)
	}
	return out, nil
}

// swapRels reads what the swap needs to know of each table.
func swapRels(ctx context.Context, tx pgx.Tx, tables []Table) ([]swapRel, error) {
	var out []swapRel
	for _, t := range tables {
		var kind, name string
		err := tx.QueryRow(ctx, `SELECT c.relkind::text, format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2`, t.Schema, t.Name).Scan(&kind, &name)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("table %s is missing in the live database", t)
		}
		if err != nil {
			return nil, err
		}
		if kind != "r" && kind != "p" {
			return nil, fmt.Errorf("%s is not a table (relkind %s)", t, kind)
		}
		out = append(out, swapRel{t: t, name: name, partitioned: kind == "p"})
	}
	return out, nil
}

// lockHolders counts the other sessions holding locks on the named tables,
// for the lock-wait report. It runs after the failed transaction ended;
// errors count as none.
func lockHolders(ctx context.Context, conn *pgx.Conn, list []string) int {
	var n int
	_ = conn.QueryRow(ctx, `SELECT count(DISTINCT pid) FROM pg_locks
		WHERE granted AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND relation = ANY (SELECT unnest($1::text[])::regclass)`, list).Scan(&n)
	return n
}

// XactStatus asks the database of conn whether transaction xid (a Swapped.XID
// recorded by BeforeCommit) committed: "committed", "aborted", "in progress",
// or "" when Postgres no longer knows (too old).
func XactStatus(ctx context.Context, conn *pgx.Conn, xid uint64) (string, error) {
	var st *string
	if err := conn.QueryRow(ctx, `SELECT pg_xact_status($1::text::xid8)`, strconv.FormatUint(xid, 10)).Scan(&st); err != nil {
		return "", fmt.Errorf("status of transaction %d: %w", xid, err)
	}
	if st == nil {
		return "", nil
	}
	return *st, nil
}
