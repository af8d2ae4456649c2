package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// longRef is a valid project ref of 63 characters, unique per call: every
// name derived from it (<db>_stg_tN, <db>_pre_tN, <ref>-rN) would pass 63
// bytes without the naming function.
func longRef() string {
	r := randomRef() + "-"
	return r + strings.Repeat("x", 63-len(r))
}

// faults is a StepHook that fails the restores of the tickets told, at the
// step told, a number of times.
type faults struct {
	mu sync.Mutex
	at map[int64]jobs.Step
	n  map[int64]int // failures left; absent means always
}

func newFaults() *faults { return &faults{at: map[int64]jobs.Step{}, n: map[int64]int{}} }

func (f *faults) failAt(ticket int64, s jobs.Step, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at[ticket] = s
	if times > 0 {
		f.n[ticket] = times
	}
}

func (f *faults) hook(_ context.Context, ticket int64, s jobs.Step) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at[ticket] != s {
		return nil
	}
	if left, ok := f.n[ticket]; ok {
		if left == 0 {
			return nil
		}
		f.n[ticket] = left - 1
	}
	return errors.New("injected fault")
}

// startWithFaults starts the in-process workers with a fault hook; tickets
// are queued with the insert-only client so a fault can be armed for a
// ticket before its job runs, then released by starting the workers.
func (h *harness) startWithFaults() *faults {
	h.t.Helper()
	f := newFaults()
	deps := h.deps
	deps.StepHook = f.hook
	h.startRiverWith(deps)
	return f
}

// dropRecorded removes, when the test ends, every database the portal
// recorded (derived names of long refs do not share the live name's prefix).
func (h *harness) dropRecordedAtEnd() {
	h.t.Cleanup(func() {
		ctx := context.Background()
		rows, err := h.pool.Query(ctx, `SELECT DISTINCT name FROM ticket_databases WHERE schema = ''`)
		if err != nil {
			return
		}
		names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		conn, err := pgx.Connect(ctx, h.cfg.ProjectsAdminURL)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		for _, n := range names {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
		}
	})
}

// activeRecords lists what the ticket's records say is still on the cluster.
func (h *harness) activeRecords(ticket int64) []tickets.DatabaseRecord {
	h.t.Helper()
	recs, err := tickets.DatabaseRecordsByTicket(context.Background(), h.pool, ticket)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []tickets.DatabaseRecord
	for _, r := range recs {
		if r.State != tickets.RecordDropped {
			out = append(out, r)
		}
	}
	return out
}

// clusterDatabases lists the cluster's databases other than the live one
// whose names come from this harness's live database or ref.
func (h *harness) derivedDatabases() []string {
	h.t.Helper()
	var names []string
	prefix := h.db[:15] // proj_<10 hex>, the random part
	h.onAdmin(func(ctx context.Context, conn *pgx.Conn) (err error) {
		names, err = column[string](ctx, conn, `SELECT datname FROM pg_database WHERE left(datname, 15) = $1 AND datname <> $2 ORDER BY 1`, prefix, h.db)
		return err
	})
	return names
}

// TestLongRefRestoresAllKindsAndSurvivesFaults restores a project whose ref
// (and live database name) is 63 characters long in each of the four kinds.
// First a fault is injected at every step before the cut-over: each time the
// ticket fails, the live database is unchanged and nothing the ticket made is
// left on the cluster. Then the restore runs clean and succeeds.
func TestLongRefRestoresAllKindsAndSurvivesFaults(t *testing.T) {
	t.Parallel()
	for _, k := range everyKind(ordersScope) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			h := newHarnessRef(t, longRef())
			if len(h.db) != 63 {
				t.Fatalf("live database name %q is %d bytes, want 63", h.db, len(h.db))
			}
			h.dropRecordedAtEnd()
			f := h.startWithFaults()
			snap, before := h.snapshotThenChange()
			ordersBefore := h.tableDigest("public.orders")

			for _, step := range []jobs.Step{jobs.StepPrepared, jobs.StepApplied, jobs.StepVerified} {
				tk := h.queued(snap, k.scope, k.mode, f, step)
				done := h.waitFinal(tk.ID)
				if done.State != tickets.StateFailed || !strings.Contains(done.Result.Message, "at step "+string(step)) {
					t.Fatalf("fault at %s: %s %+v", step, done.State, done.Result)
				}
				if h.checksum(h.db) != before {
					t.Fatalf("fault at %s changed the live database", step)
				}
				if left := h.activeRecords(tk.ID); len(left) != 0 {
					t.Fatalf("fault at %s left %v recorded", step, left)
				}
				if left := h.derivedDatabases(); len(left) != 0 {
					t.Fatalf("fault at %s left databases %v", step, left)
				}
				if k.mode == tickets.ModeNewProject && h.databaseExists(cluster.NewProjectDatabase(done.TargetRef())) {
					t.Fatalf("fault at %s left the new project's database", step)
				}
			}

			tk := h.restore(snap, k.scope, k.mode, tickets.Options{})
			wantState(t, tk, tickets.StateSucceeded, "clean restore")
			for _, r := range h.activeRecords(tk.ID) {
				if len(r.Name) > cluster.MaxIdentifierBytes || len(r.Schema) > cluster.MaxIdentifierBytes || r.Schema == "" && r.Name == h.db {
					t.Fatalf("record %v: too long or the live name", r)
				}
			}
			switch {
			case k.mode == tickets.ModeNewProject:
				if tr := tk.TargetRef(); len(tr) > 63 || !h.databaseExists(tk.Result.TargetDatabase) {
					t.Fatalf("new project %q at %q missing", tr, tk.Result.TargetDatabase)
				}
				h.wantLive(before, "a new-project restore changed the live database")
			case k.scope.Kind == tickets.ScopeFull:
				if tk.Result.KeptDatabase != cluster.KeptName(h.db, tk.ID) || h.checksum(tk.Result.KeptDatabase) != before {
					t.Fatalf("kept copy %q does not hold the live state", tk.Result.KeptDatabase)
				}
			}
			if k.mode == tickets.ModeDestructive {
				rb := h.rollback(tk.ID)
				wantState(t, rb, tickets.StateRolledBack, "rollback")
				if k.scope.Kind == tickets.ScopeFull && h.checksum(h.db) != before || h.tableDigest("public.orders") != ordersBefore {
					t.Fatal("rollback did not bring the live database back")
				}
			}
		})
	}
}

// queued creates a ticket with the fault armed before its job can run: it is
// queued through the insert-only client while the armed fault waits for its id.
func (h *harness) queued(snap snapshots.Snapshot, scope tickets.Scope, mode tickets.Mode, f *faults, step jobs.Step) tickets.Ticket {
	h.t.Helper()
	next := h.nextTicketID()
	times := 0 // always
	if step == jobs.StepCutover || step == jobs.StepRecorded {
		times = 1 // after the swap a failed attempt is retried
	}
	f.failAt(next, step, times)
	tk := h.ticket(snap, scope, mode, tickets.Options{})
	if tk.ID != next {
		h.t.Fatalf("ticket id %d, armed %d", tk.ID, next)
	}
	return tk
}

func (h *harness) nextTicketID() int64 {
	h.t.Helper()
	var id int64
	// The tickets' id sequence: the next value, without consuming it.
	err := h.pool.QueryRow(context.Background(), `SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM tickets_id_seq`).Scan(&id)
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// TestUnrecordedNamesAreNeverDropped puts databases on the cluster under the
// names a queued ticket's restore would derive (a stale staging name, and a
// new-project target made after the ticket was prepared): neither is
// recorded for the ticket, so the restore refuses and leaves them, with
// their contents, and the live database, as they were.
func TestUnrecordedNamesAreNeverDropped(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mode tickets.Mode
		opts tickets.Options
		want string
	}{
		{"stale staging name", tickets.ModeDestructive, tickets.Options{}, "is not recorded as made by ticket"},
		{"target made after preparation", tickets.ModeNewProject, tickets.Options{TargetRef: "copy"},
			"already exists on cluster default: a new-project restore needs a new name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			snap, before := h.snapshotThenChange()
			ctx := context.Background()
			opts := c.opts
			if opts.TargetRef != "" {
				opts.TargetRef = h.ref + "-" + opts.TargetRef
			}
			// Queued, not yet worked: the names are known before the worker runs.
			tk := h.ticket(snap, full, c.mode, opts)
			db := cluster.StagingName(h.db, tk.ID)
			if c.mode == tickets.ModeNewProject {
				db = cluster.NewProjectDatabase(tk.TargetRef())
			}
			if err := h.cl.Create(ctx, db); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = h.cl.Drop(ctx, db) })
			conn, err := h.cl.Connect(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, `CREATE TABLE precious AS SELECT 42 AS answer`); err != nil {
				t.Fatal(err)
			}
			conn.Close(ctx)

			h.startRiver()
			done := h.waitFinal(tk.ID)
			if done.State != tickets.StateFailed || !strings.Contains(done.Result.Message, c.want) {
				t.Fatalf("restore with %s taken: %s %+v", db, done.State, done.Result)
			}
			conn, err = h.cl.Connect(ctx, db)
			if err != nil {
				t.Fatalf("database %s is gone: %v", db, err)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, `SELECT answer FROM precious`).Scan(&n); err != nil || n != 42 {
				t.Fatalf("database %s was changed: %d %v", db, n, err)
			}
			h.wantLive(before, "the live database changed")
			if left := h.activeRecords(tk.ID); len(left) != 0 {
				t.Fatalf("the refused restore recorded %v", left)
			}
		})
	}
}

// TestKeptCopyCannotBeATarget: after a full destructive restore, a
// new-project ticket whose target ref maps onto the kept copy's name is
// refused at preparation; the kept copy is untouched and its rollback puts
// the right data back.
func TestKeptCopyCannotBeATarget(t *testing.T) {
	t.Parallel()
	h, snap, before := newChangedHarness(t)
	tk := h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	ctx := context.Background()
	cat := tickets.SnapshotCatalogOn(h.pool, h.cl)
	attack, err := tickets.Create(ctx, h.pool, cat, h.operator, tickets.NewTicket{Source: tickets.SourcePortal,
		ProjectRef: h.ref, RequesterEmail: "c@example.com", Mode: tickets.ModeNewProject})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tickets.Prepare(ctx, h.pool, cat, h.operator, attack.ID, tickets.Preparation{SnapshotID: snap.ID, Mode: tickets.ModeNewProject,
		Options: tickets.Options{TargetRef: strings.ReplaceAll(tk.Result.KeptDatabase, "_", "-")}})
	var ve *tickets.ValidationError
	if !errors.As(err, &ve) || ve.Field != "target_ref" || !strings.Contains(ve.Msg, "recorded as the kept of ticket") {
		t.Fatalf("a target onto the kept copy: %v", err)
	}
	if h.checksum(tk.Result.KeptDatabase) != before {
		t.Fatal("the kept copy changed")
	}
	if rb := h.rollback(tk.ID); rb.State != tickets.StateRolledBack || h.checksum(h.db) != before {
		t.Fatalf("rollback: %s %+v", rb.State, rb.Result)
	}
}
