package runbook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// The table-scope swap and its rollback, as the jobs run them: names,
// the record of each swap in the portal (ticket_table_swaps), and the
// sessions the swap runs on.

// keepSchemaBackup and keepSchemaAside are the schemas, in a ticket's keep
// databases, of the rows a restore replaced and of the rows a rollback
// replaced.
const (
	keepSchemaBackup = "backup"
	keepSchemaAside  = "aside"
)

// tableSwap is a row of ticket_table_swaps.
type tableSwap struct {
	TicketID     int64
	Op           string // "restore" or "rollback"
	LiveDatabase string
	KeepDatabase string
	KeepSchema   string
	Tables       []string
	State        string // "prepared", "committing", "committed"
	XID          *int64
	Before       map[string]int64
	After        map[string]int64
	KeptUntil    *time.Time

	// hook, when set, is the test hook called at the swap's steps (swapStep;
	// not stored).
	hook func(context.Context, Step) error
}

var errNoSwap = errors.New("no table swap recorded")

// resolveSwap tells whether recorded swap s committed. A swap recorded as
// committing is resolved by asking the live database about its transaction;
// one still in progress (its session not yet gone) is waited for.
func resolveSwap(ctx context.Context, db tickets.DB, cl *cluster.Cluster, s tableSwap) (bool, error) {
	return resolveCommit(ctx, cl, s.State, s.XID, s.LiveDatabase, "table swap", s.Op, func() error {
		return tableSwapCommitted(ctx, db, s.TicketID, s.Op)
	})
}

// resolveCommit tells whether the live transaction a swap or undelete record
// names committed: state "committed" did; a record not "committing", or
// without its xid, did not. For a committing one the live database is asked
// about the transaction (cluster.XactStatus), waiting up to a minute while it
// is in progress; committed then marks the record committed. what and op name
// the record in errors.
func resolveCommit(ctx context.Context, cl *cluster.Cluster, state string, xid *int64, live, what, op string, committed func() error) (bool, error) {
	switch {
	case state == "committed":
		return true, nil
	case state != "committing" || xid == nil:
		return false, nil
	}
	conn, err := cl.Connect(ctx, live)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := cluster.XactStatus(ctx, conn, uint64(*xid))
		if err != nil {
			return false, err
		}
		switch st {
		case "committed":
			return true, committed()
		case "aborted":
			return false, nil
		case "":
			return false, fmt.Errorf("the live database no longer knows transaction %d of the %s (%s): check %s by hand", *xid, what, op, live)
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("transaction %d of the %s is still in progress after a minute", *xid, what)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runSwap records swap s, runs cluster.ReplaceRows with the record of its
// transaction id written just before the commit, and records the commit. A
// commit whose outcome is unknown (the connection broke during COMMIT) is
// resolved from the record.
func runSwap(ctx context.Context, db tickets.DB, cl *cluster.Cluster, s tableSwap, live *pgx.Conn, src cluster.Source, keep cluster.Keep, tables []cluster.Table, opt cluster.SwapOptions) (cluster.Swapped, error) {
	if err := tableSwapPrepare(ctx, db, s); err != nil {
		return cluster.Swapped{}, err
	}
	committing := false
	loaded := s.hookOnLoaded(ctx, &opt)
	opt.BeforeCommit = func(ctx context.Context, sw cluster.Swapped) error {
		if err := loaded(); err != nil {
			return err
		}
		committing = true
		if err := tableSwapCommitting(ctx, db, s.TicketID, s.Op, sw.XID, sw.Before, sw.After); err != nil {
			return err
		}
		return s.step(ctx, StepSwapCommitting)
	}
	sw, err := cluster.ReplaceRows(ctx, live, src, keep, tables, opt)
	if err == nil {
		// Committed: whatever fails now, the tables were swapped; a retry
		// resolves the record (committing, with the xid) and finishes.
		if err := s.step(ctx, StepSwapCommitted); err != nil {
			return sw, errAfterCutover{err}
		}
		if err := tableSwapCommitted(ctx, db, s.TicketID, s.Op); err != nil {
			return sw, errAfterCutover{err}
		}
		return sw, nil
	}
	if !committing {
		return sw, err
	}
	rec, gerr := tableSwapGet(ctx, db, s.TicketID, s.Op)
	if gerr != nil {
		return sw, errors.Join(err, gerr)
	}
	done, rerr := resolveSwap(ctx, db, cl, rec)
	if rerr != nil {
		// The commit's outcome is unknown: the backup must stay, and the
		// retry resolves the record first.
		return sw, errAfterCutover{errors.Join(err, rerr)}
	}
	if !done {
		return sw, err
	}
	return cluster.Swapped{Before: rec.Before, After: rec.After, XID: uint64(*rec.XID)}, nil
}

// ownerSession opens a connection to database db acting as the role owning
// it, through a short-lived login role that is only a member of it
// (cluster.ConnectOwner): the swap needs no more, and the customer's code it
// runs (CHECK constraints, index expressions) then runs with the customer's
// rights, with no superuser to fall back to. A database owned by a
// privileged role is refused. done closes the connection and drops the
// login role.
func ownerSession(ctx context.Context, cl *cluster.Cluster, db string, log *slog.Logger) (conn *pgx.Conn, done func(), err error) {
	rc, err := cl.ConnectOwner(ctx, db)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s as its owner: %w", db, err)
	}
	return rc.Conn, func() {
		if err := rc.Close(context.WithoutCancel(ctx)); err != nil {
			log.Error("could not drop the owner session's login role", "database", db, "err", err)
		}
	}, nil
}

func swapTables(names []string) ([]cluster.Table, error) {
	var out []cluster.Table
	for _, n := range names {
		t, err := cluster.ParseTable(n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lockWaitReporter shows a swap's waits for locks as the run's phase.
func lockWaitReporter(setPhase func(phase, msg string)) func(cluster.LockWait) {
	return func(w cluster.LockWait) {
		setPhase(tickets.PhaseCutover, fmt.Sprintf("waiting for other sessions to release the tables (%d holding locks; attempt %d, %s so far)",
			w.Holders, w.Attempt, w.Waited.Round(100*time.Millisecond)))
	}
}

func joinLines(lines []string) string { return strings.Join(lines, "; ") }

// rollbackTables undoes a table-scope restore: in one transaction that locks
// the live tables, their current rows (everything written since the restore
// included) are kept aside in a database of their own, and the rows the
// restore replaced come back from its backup database. Sequences move past
// every restored and kept key; foreign keys are checked, and a rollback that
// would leave rows pointing at missing rows stops unless the ticket allows
// dangling references. The ticket records where the writes since were kept.
func (w *rollbacker) rollbackTables(ctx context.Context, cl *cluster.Cluster, t tickets.Ticket, keep time.Duration) error {
	rec, err := tableSwapGet(ctx, w.d.Pool, t.ID, "restore")
	if errors.Is(err, errNoSwap) {
		return w.rollbackTablesInLive(ctx, cl, t)
	}
	if err != nil {
		return err
	}
	if rec.State != "committed" {
		return fmt.Errorf("the table restore of ticket %d is recorded as %s, not committed: nothing to roll back", t.ID, rec.State)
	}
	tables, err := swapTables(rec.Tables)
	if err != nil {
		return err
	}
	asideDB := cluster.TableAsideName(rec.LiveDatabase, t.ID)
	until := time.Now().Add(keep)
	done := false
	var sw cluster.Swapped
	if prev, err := tableSwapGet(ctx, w.d.Pool, t.ID, "rollback"); err == nil {
		if done, err = resolveSwap(ctx, w.d.Pool, cl, prev); err != nil {
			return err
		}
		if done {
			sw = cluster.Swapped{Before: prev.Before, After: prev.After}
			if prev.KeptUntil != nil {
				until = *prev.KeptUntil
			}
		}
	} else if !errors.Is(err, errNoSwap) {
		return err
	}
	own := recorder{d: w.d, cl: cl, ticketID: t.ID}
	var sentences []string
	if !done {
		if bak, err := own.mine(ctx, rec.KeepDatabase, "", tickets.PurposeTableBackup); err != nil {
			return fmt.Errorf("backup database %s (kept until %v): %w: nothing to put back", rec.KeepDatabase, rec.KeptUntil, err)
		} else if bak.State != tickets.RecordMade {
			return fmt.Errorf("backup database %s is %s (kept until %v): nothing to put back", rec.KeepDatabase, bak.State, rec.KeptUntil)
		}
		// The aside database is recorded before it is made; one left by an
		// attempt whose swap did not commit is this ticket's and is remade.
		aside, err := own.claim(ctx, asideDB, "", tickets.PurposeRollbackAside, true)
		if err != nil {
			return err
		}
		if err := cl.Create(ctx, asideDB); err != nil {
			return err
		}
		if err := own.made(ctx, aside, &until); err != nil {
			return err
		}
		if err := w.d.step(ctx, t.ID, StepRollbackPrepared); err != nil {
			return err
		}
		lc, closeLC, err := ownerSession(ctx, cl, rec.LiveDatabase, w.d.Log)
		if err != nil {
			return err
		}
		defer closeLC()
		if rec.XID != nil {
			changes, err := cluster.ChangesSince(ctx, lc, tables, uint64(*rec.XID), rec.After)
			if err != nil {
				return err
			}
			for _, c := range changes {
				sentences = append(sentences, c.Sentence("database "+asideDB))
			}
		}
		bc, err := cl.Connect(ctx, rec.KeepDatabase)
		if err != nil {
			return err
		}
		defer bc.Close(context.WithoutCancel(ctx))
		ac, err := cl.Connect(ctx, asideDB)
		if err != nil {
			return err
		}
		defer ac.Close(context.WithoutCancel(ctx))
		rb := tableSwap{TicketID: t.ID, Op: "rollback", LiveDatabase: rec.LiveDatabase, KeepDatabase: asideDB, KeepSchema: keepSchemaAside,
			Tables: rec.Tables, KeptUntil: &until, hook: func(ctx context.Context, s Step) error { return w.d.step(ctx, t.ID, s) }}
		sw, err = runSwap(context.WithoutCancel(ctx), w.d.Pool, cl, rb, lc, cluster.Source{Conn: bc, Schema: rec.KeepSchema},
			cluster.Keep{Conn: ac, Schema: keepSchemaAside}, tables, cluster.SwapOptions{AllowDangling: t.Options.AllowDangling})
		if err != nil {
			return err
		}
	}
	// The swap committed: the cleanup is a follow-up that never fails the
	// rollback; the periodic sweep drops the aside copy from its record.
	if err := w.d.step(ctx, t.ID, StepRollbackCutover); err != nil {
		return errAfterCutover{err}
	}
	if err := w.d.step(ctx, t.ID, StepRollbackFollowUps); err != nil {
		return errAfterCutover{err}
	}
	if err := w.d.scheduleCleanup(ctx, Cleanup{TicketID: t.ID, ProjectRef: t.ProjectRef, Database: asideDB}, until); err != nil {
		w.d.Log.Error("could not schedule the cleanup of the kept-aside rows; the sweep drops them later", "database", asideDB, "err", err)
	}
	var put []string
	for _, n := range sortedKeys(sw.After) {
		put = append(put, fmt.Sprintf("%s: %d rows put back, %d kept aside", n, sw.After[n], sw.Before[n]))
	}
	summary := fmt.Sprintf("The tables of %s are back as they were before the restore (%s). Their rows as they were just before this rollback are kept in database %s (schema %s) until %s.",
		rec.LiveDatabase, joinLines(put), asideDB, keepSchemaAside, until.UTC().Format("2006-01-02 15:04 UTC"))
	if len(sentences) > 0 {
		summary += " " + strings.Join(sentences, " ")
	}
	if len(sw.Dangling) > 0 {
		summary += " Allowed dangling references (their foreign keys are back NOT VALID): " + joinLines(sw.Dangling) + "."
	}
	if _, err = tickets.RecordRollbackKept(ctx, w.d.Pool, t.ID, asideDB+"."+keepSchemaAside, until, summary); err != nil {
		return errAfterCutover{err} // swapped: the retry finds the record and finishes
	}
	return nil
}

// rollbackTablesInLive puts back a backup schema inside the live database,
// as table restores made it before the backup moved to a database of its
// own: tickets restored then can still be rolled back.
func (w *rollbacker) rollbackTablesInLive(ctx context.Context, cl *cluster.Cluster, t tickets.Ticket) error {
	res := t.Result
	schema := cluster.BackupSchemaName(t.ID)
	if _, err := (recorder{d: w.d, cl: cl, ticketID: t.ID}).mine(ctx, res.TargetDatabase, schema, tickets.PurposeTableBackup); err != nil {
		return err
	}
	var tables []cluster.Table
	for name := range res.KeptTables {
		tb, err := cluster.ParseTable(name)
		if err != nil {
			return err
		}
		tables = append(tables, tb)
	}
	conn, err := cl.Connect(ctx, res.TargetDatabase)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if ok, err := cluster.SchemaExists(ctx, conn, schema); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("backup schema %s is gone (kept until %v): nothing to put back", schema, res.KeptUntil)
	}
	_, err = cluster.RestoreBackup(ctx, conn, schema, tables)
	return err
}
