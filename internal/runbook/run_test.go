package runbook_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/runbook/runbooktest"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

// These tests drive the sequence through its API, Run and Rollback, with no
// River worker: each attempt is a call, a crash between two steps is a
// failure returned by the step hook, and the test reads the ticket's
// records at every step.

// fixture is one project with a live database, a verified snapshot of it
// taken before a later day of changes, and the sequence's Deps.
type fixture struct {
	t       *testing.T
	p       *runbooktest.Project
	cfg     config.Config
	admin   string // the project cluster's superuser URL
	pool    *pgxpool.Pool
	cl      *cluster.Cluster
	ref, db string
	snap    snapshots.Snapshot
	deps    runbook.Deps
	before  string // the live database's checksum before any restore

	mu       sync.Mutex
	cleanups []scheduled // what the sequence asked to be cleaned up
}

type scheduled struct {
	c  runbook.Cleanup
	at time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, cluster.Default, "")
}

// newFixtureOn is newFixture with the project on cluster name, reached at
// adminURL (a second configured cluster; "" is the stack's project cluster).
func newFixtureOn(t *testing.T, name, adminURL string) *fixture {
	t.Helper()
	ctx := context.Background()
	p := runbooktest.NewOn(t, runbooktest.RandomRef(), name, adminURL, nil)
	f := &fixture{t: t, p: p, cfg: p.Config, admin: p.AdminURL, pool: p.Pool, cl: p.Cluster, ref: p.Ref, db: p.DB}
	log := testenv.Logger(t)
	var err error
	if f.snap, err = verify.Capture(ctx, snapshots.NewDeps(f.cfg, f.pool, p.S3, log), f.ref, false); err != nil {
		t.Fatalf("capture: %v", err)
	}
	conn, err := pgx.Connect(ctx, p.LiveURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := demo.ChangeDay(ctx, conn, f.ref, 2); err != nil {
		t.Fatal(err)
	}
	f.before = f.checksum(f.db)
	f.deps = runbook.Deps{Config: f.cfg, Pool: f.pool, S3: p.S3, Log: log,
		ScheduleCleanup: func(_ context.Context, c runbook.Cleanup, at time.Time) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.cleanups = append(f.cleanups, scheduled{c, at})
			return nil
		}}
	return f
}

func (f *fixture) checksum(db string) string { return f.p.Checksum(db) }

// finished records the run's outcome as a success, as its worker does, and
// returns the ticket read again (what a rollback is handed) and the result.
func (f *fixture) finished(ctx context.Context, tk tickets.Ticket, o runbook.Outcome) (tickets.Ticket, tickets.Result) {
	f.t.Helper()
	res := o.Result
	res.OK = true
	if _, err := tickets.Finish(ctx, f.pool, tk.ID, res); err != nil {
		f.t.Fatal(err)
	}
	tk, err := tickets.TicketGet(ctx, f.pool, tk.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return tk, res
}

func (f *fixture) exists(db string) bool {
	f.t.Helper()
	ok, err := f.cl.Exists(context.Background(), db)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

// running makes a destructive full-scope ticket of the fixture's snapshot,
// approved by a second person and marked running, as its worker would.
func (f *fixture) running() tickets.Ticket {
	f.t.Helper()
	return f.runningScope(tickets.Scope{Kind: tickets.ScopeFull})
}

// runningScope is running for another scope.
func (f *fixture) runningScope(scope tickets.Scope) tickets.Ticket {
	f.t.Helper()
	return f.runningAs(scope, tickets.ModeDestructive)
}

// runningAs is running for another scope and mode (destructive or undelete).
func (f *fixture) runningAs(scope tickets.Scope, mode tickets.Mode) tickets.Ticket {
	f.t.Helper()
	ctx := context.Background()
	op, ap := f.p.Operator, f.p.Approver
	cat := tickets.SnapshotCatalog(f.pool)
	tk, err := tickets.Create(ctx, f.pool, cat, op, tickets.NewTicket{Source: tickets.SourcePortal, ProjectRef: f.ref,
		RequesterEmail: "customer@example.com", Scope: scope, Mode: mode, Note: "runbook test"})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err = tickets.Prepare(ctx, f.pool, cat, op, tk.ID, tickets.Preparation{SnapshotID: f.snap.ID, Scope: scope, Mode: mode}); err != nil {
		f.t.Fatal(err)
	}
	if _, err = tickets.Submit(ctx, f.pool, op, tk.ID); err != nil {
		f.t.Fatal(err)
	}
	if tk, err = tickets.Approve(ctx, f.pool, testenv.InsertOnlyRiver(f.t, f.pool), ap, tk.ID, f.ref); err != nil {
		f.t.Fatal(err)
	}
	if tk, err = tickets.MarkRunning(ctx, f.pool, tk.ID, tk.JobID); err != nil {
		f.t.Fatal(err)
	}
	return tk
}

// actors are the fixture's operator and approver.
func (f *fixture) actors() (op, ap tickets.Actor) { return f.p.Operator, f.p.Approver }

// runningNewProject makes a new-project full-scope ticket of the fixture's
// snapshot, started by an operator and marked running, as its worker would.
func (f *fixture) runningNewProject() tickets.Ticket {
	f.t.Helper()
	ctx := context.Background()
	op, _ := f.actors()
	cat := tickets.SnapshotCatalog(f.pool)
	scope := tickets.Scope{Kind: tickets.ScopeFull}
	tk, err := tickets.Create(ctx, f.pool, cat, op, tickets.NewTicket{Source: tickets.SourcePortal, ProjectRef: f.ref,
		RequesterEmail: "customer@example.com", Scope: scope, Mode: tickets.ModeNewProject, Note: "runbook test"})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err = tickets.Prepare(ctx, f.pool, cat, op, tk.ID, tickets.Preparation{SnapshotID: f.snap.ID, Scope: scope, Mode: tickets.ModeNewProject}); err != nil {
		f.t.Fatal(err)
	}
	if tk, err = tickets.Start(ctx, f.pool, testenv.InsertOnlyRiver(f.t, f.pool), op, tk.ID); err != nil {
		f.t.Fatal(err)
	}
	if tk, err = tickets.MarkRunning(ctx, f.pool, tk.ID, tk.JobID); err != nil {
		f.t.Fatal(err)
	}
	return tk
}

// attempt is attempt n of the sequence, holding no lock.
func (f *fixture) attempt(n int) runbook.Attempt {
	ok := func(context.Context) error { return nil }
	return runbook.Attempt{Number: n, Log: f.deps.Log, Alive: ok, Held: ok}
}

// records is the ticket's database records, "purpose name" to state.
func (f *fixture) records(ctx context.Context, id int64) map[string]string {
	f.t.Helper()
	recs, err := tickets.DatabaseRecordsByTicket(ctx, f.pool, id)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		out[r.Purpose+" "+r.Name] = r.State
	}
	return out
}

// stepsOf is the ticket's step log of op and attempt, by step name.
func (f *fixture) stepsOf(id int64, op string, attempt int) []string {
	f.t.Helper()
	steps, err := tickets.StepsOf(context.Background(), f.pool, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, s := range steps {
		if s.Op == op && s.Attempt == attempt {
			if s.FinishedAt == nil {
				f.t.Errorf("step %s of attempt %d not finished", s.Step, attempt)
			}
			out = append(out, s.Step)
		}
	}
	return out
}

func (f *fixture) cleanupsScheduled() []scheduled {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cleanups)
}

// want is the state of the ticket's records expected at one step.
type want struct {
	records   map[string]string // every record of the ticket, "purpose name" to state
	exists    []string          // databases on the cluster
	gone      []string          // databases not on the cluster
	liveAsWas bool              // the live database unchanged (not when connections are blocked)
}

// hookChecking is a step hook that checks each step's records against
// expect as the step is reached (a step missing from expect is an error),
// logs the steps reached, and fails the attempt at failAt.
func (f *fixture) hookChecking(expect map[runbook.Step]want, failAt runbook.Step, reached *[]runbook.Step) func(context.Context, int64, runbook.Step) error {
	return func(ctx context.Context, id int64, s runbook.Step) error {
		*reached = append(*reached, s)
		w, ok := expect[s]
		if !ok {
			f.t.Errorf("step %s reached, not expected here", s)
		} else {
			if got := f.records(ctx, id); !mapsEqual(got, w.records) {
				f.t.Errorf("at step %s: records %v, want %v", s, got, w.records)
			}
			for _, db := range w.exists {
				if !f.exists(db) {
					f.t.Errorf("at step %s: database %s is not on the cluster", s, db)
				}
			}
			for _, db := range w.gone {
				if f.exists(db) {
					f.t.Errorf("at step %s: database %s is on the cluster", s, db)
				}
			}
			if w.liveAsWas && f.checksum(f.db) != f.before {
				f.t.Errorf("at step %s: the live database changed", s)
			}
		}
		if s == failAt {
			return errInjected
		}
		return nil
	}
}

var errInjected = errors.New("injected at this step")

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
