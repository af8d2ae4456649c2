package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

// The crash matrix: for every kind of restore (full or tables, destructive
// or new project) and both rollbacks, the real worker binary is paused at
// each recorded step in turn and killed with SIGKILL there; a fresh worker
// must then finish the job from the records. Every (kind, step) case is its
// own project in one portal database, so one worker process runs all of
// them at once: it pauses each case at its own step
// (PORTAL_TEST_PAUSE_AT_STEP=ticket:step,...), is killed when all are
// paused, and one fresh worker finishes them all.

// crashTables are the tables of the table-scope cases: two, so a swap that
// replaced one table and not the other would show.
var crashTables = []string{"public.orders", "public.events"}

type crashKind struct {
	name     string
	scope    tickets.Scope
	mode     tickets.Mode
	rollback bool // the case is the rollback of a succeeded restore of this kind
}

var (
	kindFullDestructive   = crashKind{"full_destructive", full, tickets.ModeDestructive, false}
	kindFullNewProject    = crashKind{"full_new_project", full, tickets.ModeNewProject, false}
	kindTablesDestructive = crashKind{"tables_destructive", tickets.Scope{Kind: tickets.ScopeTables, Tables: crashTables}, tickets.ModeDestructive, false}
	kindTablesNewProject  = crashKind{"tables_new_project", tickets.Scope{Kind: tickets.ScopeTables, Tables: crashTables}, tickets.ModeNewProject, false}
	kindFullRollback      = crashKind{"full_rollback", full, tickets.ModeDestructive, true}
	kindTablesRollback    = crashKind{"tables_rollback", tickets.Scope{Kind: tickets.ScopeTables, Tables: crashTables}, tickets.ModeDestructive, true}
)

// crashStep is a step to kill at, and whether the live database has been
// changed by then (the restore's or rollback's commit happened before it).
type crashStep struct {
	step    jobs.Step
	changed bool
}

// crashMatrix lists every recorded step of every kind.
var crashMatrix = []struct {
	kind  crashKind
	steps []crashStep
}{
	{kindFullDestructive, []crashStep{
		{jobs.StepSafetySnapshot, false}, {jobs.StepPrepared, false}, {jobs.StepApplied, false}, {jobs.StepVerified, false},
		{jobs.StepBlocked, false}, {jobs.StepCutover, true}, {jobs.StepRecorded, true}, {jobs.StepFollowUps, true},
	}},
	{kindFullNewProject, []crashStep{
		{jobs.StepPrepared, false}, {jobs.StepApplied, false}, {jobs.StepVerified, false}, {jobs.StepRegistered, false},
	}},
	{kindTablesDestructive, []crashStep{
		{jobs.StepSafetySnapshot, false}, {jobs.StepPrepared, false}, {jobs.StepApplied, false}, {jobs.StepVerified, false},
		{jobs.StepBackedUp, false}, {jobs.StepSwapLoaded, false}, {jobs.StepSwapCommitting, false}, {jobs.StepSwapCommitted, true},
		{jobs.StepCutover, true}, {jobs.StepRecorded, true}, {jobs.StepFollowUps, true},
	}},
	{kindTablesNewProject, []crashStep{
		{jobs.StepPrepared, false}, {jobs.StepApplied, false}, {jobs.StepVerified, false}, {jobs.StepRegistered, false},
	}},
	{kindFullRollback, []crashStep{
		{jobs.StepRollbackPrepared, false}, {jobs.StepRollbackBlocked, false}, {jobs.StepRollbackCutover, true},
		{jobs.StepRollbackRecorded, true}, {jobs.StepRollbackFollowUps, true},
	}},
	{kindTablesRollback, []crashStep{
		{jobs.StepRollbackPrepared, false}, {"rollback-" + jobs.StepSwapLoaded, false}, {"rollback-" + jobs.StepSwapCommitting, false},
		{"rollback-" + jobs.StepSwapCommitted, true}, {jobs.StepRollbackCutover, true}, {jobs.StepRollbackFollowUps, true},
	}},
}

// crashCase is one (kind, step) of the matrix: a project of its own.
type crashCase struct {
	kind crashKind
	crashStep
	h *harness
	// Fingerprints of the live database: as the snapshot was taken (s1), as
	// it was when the restore was queued (s2).
	s1, s2 string
	ticket tickets.Ticket
	rolled bool // the rollback was requested
}

func (c *crashCase) name() string { return c.kind.name + "/" + string(c.step) }

// beforeAfter are the fingerprints of live before and after what the case
// kills (the restore, or the rollback of the restore).
func (c *crashCase) beforeAfter() (before, after string) {
	switch {
	case c.kind.mode == tickets.ModeNewProject:
		return c.s2, c.s2 // live is never changed
	case c.kind.rollback:
		return c.s1, c.s2
	}
	return c.s2, c.s1
}

// fingerprint digests what a case's restore replaces in database db: the
// whole database (full scope) or the case's tables.
func (c *crashCase) fingerprint(ctx context.Context, db string) (string, error) {
	if c.kind.scope.Kind == tickets.ScopeFull {
		return c.h.cl.Checksum(ctx, db)
	}
	conn, err := c.h.cl.Connect(ctx, db)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var parts []string
	for _, t := range crashTables {
		var d string
		if err := conn.QueryRow(ctx, `SELECT coalesce(md5(string_agg(x::text, E'\n' ORDER BY x::text)), '') FROM `+t+` x`).Scan(&d); err != nil {
			return "", fmt.Errorf("%s in %s: %w", t, db, err)
		}
		parts = append(parts, t+":"+d)
	}
	return strings.Join(parts, " "), nil
}

// newCrashProject adds a project to base's portal database, with its live
// database, two days of data, a verified snapshot, then a third day; it
// returns its harness (sharing base's portal, bucket and staff). It reports
// errors instead of failing, so cases are made concurrently.
func (base *harness) newCrashProject(ctx context.Context) (*harness, error) {
	h := *base
	h.ref = randomRef()
	h.db = demo.DatabaseName(h.ref)
	base.t.Cleanup(func() { h.dropDatabases() })
	url, err := demo.CreateDatabase(ctx, h.cfg.ProjectsAdminURL, h.db)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	for day := 0; day < 2; day++ {
		if err := demo.ChangeDay(ctx, conn, h.ref, day); err != nil {
			return nil, err
		}
	}
	if _, err := h.pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')`, h.ref, h.db); err != nil {
		return nil, err
	}
	return &h, nil
}

// setUp makes the case's project and queues its restore (not worked yet).
func (c *crashCase) setUp(ctx context.Context, base *harness) error {
	h, err := base.newCrashProject(ctx)
	if err != nil {
		return err
	}
	c.h = h
	snap, err := verify.Capture(ctx, snapshots.NewDeps(h.cfg, h.pool, h.deps.S3, h.deps.Log), h.ref, false)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if c.s1, err = c.fingerprint(ctx, h.db); err != nil {
		return err
	}
	conn, err := h.cl.Connect(ctx, h.db)
	if err != nil {
		return err
	}
	err = demo.ChangeDay(ctx, conn, h.ref, 2)
	conn.Close(ctx)
	if err != nil {
		return err
	}
	if c.s2, err = c.fingerprint(ctx, h.db); err != nil {
		return err
	}
	if c.s1 == c.s2 {
		return errors.New("a day of changes left the fingerprint as it was")
	}
	c.ticket, err = h.queueTicket(ctx, snap, c.kind.scope, c.kind.mode)
	return err
}

// queueTicket is harness.ticket reporting errors: created, prepared, and
// started (new project) or approved by a second person (destructive).
func (h *harness) queueTicket(ctx context.Context, snap snapshots.Snapshot, scope tickets.Scope, mode tickets.Mode) (tickets.Ticket, error) {
	cat := tickets.SnapshotCatalog(h.pool)
	tk, err := tickets.Create(ctx, h.pool, cat, h.operator, tickets.NewTicket{
		Source: tickets.SourcePortal, ProjectRef: h.ref, RequesterEmail: "customer@example.com", Scope: scope, Mode: mode, Note: "crash matrix",
	})
	if err != nil {
		return tk, err
	}
	if tk, err = tickets.Prepare(ctx, h.pool, cat, h.operator, tk.ID, tickets.Preparation{SnapshotID: snap.ID, Scope: scope, Mode: mode}); err != nil {
		return tk, err
	}
	if mode == tickets.ModeNewProject {
		return tickets.Start(ctx, h.pool, h.insertOnly(), h.operator, tk.ID)
	}
	if _, err = tickets.Submit(ctx, h.pool, h.operator, tk.ID); err != nil {
		return tk, err
	}
	return tickets.Approve(ctx, h.pool, h.insertOnly(), h.approver, tk.ID, h.ref)
}

// TestCrashMatrix kills the worker at every recorded step of every kind of
// restore and rollback, and checks after the kill that the live database is
// exactly before or after (never a mix, and reachable), and after a fresh
// worker ran: the ticket succeeded (or rolled back), live holds the
// expected state, the copies left on the cluster are exactly the recorded
// ones (nothing unrecorded, no staging), a destructive restore took exactly
// one safety snapshot, and the job needed another attempt.
func TestCrashMatrix(t *testing.T) {
	t.Parallel()
	base := newHarness(t)
	ctx := context.Background()
	var cases []*crashCase
	for _, k := range crashMatrix {
		for _, s := range k.steps {
			cases = append(cases, &crashCase{kind: k.kind, crashStep: s})
		}
	}
	began := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, c := range cases {
		g.Go(func() error {
			if err := c.setUp(gctx, base); err != nil {
				return fmt.Errorf("%s: %w", c.name(), err)
			}
			return nil
		})
	}
	// The worker binary builds meanwhile.
	portal := base.portalURL + map[bool]string{true: "&", false: "?"}[strings.Contains(base.portalURL, "?")] + "pool_max_conns=" + fmt.Sprint(4*len(cases)+10)
	start := base.workerBinary(
		"PORTAL_DATABASE_URL="+portal,
		fmt.Sprintf("PORTAL_WORKER_CONCURRENCY=%d", len(cases)+2),
		"PORTAL_LOG_LEVEL=info",
		"PORTAL_CAPTURE_SCHEDULE=",
	)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cases set up (and the worker built) in %s", len(cases), time.Since(began).Round(100*time.Millisecond))
	var spec []string
	for _, c := range cases {
		spec = append(spec, fmt.Sprintf("%d:%s", c.ticket.ID, c.step))
	}
	paused := t.TempDir()

	first := start("PORTAL_TEST_PAUSE_AT_STEP="+strings.Join(spec, ","), "PORTAL_TEST_PAUSED_DIR="+paused)

	// Every case reaches its step; a rollback case's restore first succeeds
	// and its rollback is then requested.
	began = time.Now()
	deadline := began.Add(4 * time.Minute)
	for {
		waiting := 0
		for _, c := range cases {
			if _, err := os.Stat(filepath.Join(paused, fmt.Sprintf("%d-%s", c.ticket.ID, c.step))); err == nil {
				continue
			}
			waiting++
			tk, err := tickets.TicketGet(ctx, base.pool, c.ticket.ID)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.kind.rollback && !c.rolled && tk.State == tickets.StateSucceeded:
				if _, err := tickets.RequestRollback(ctx, base.pool, base.insertOnly(), base.approver, tk.ID, c.h.ref); err != nil {
					t.Fatalf("%s: request rollback: %v", c.name(), err)
				}
				c.rolled = true
			case tk.State == tickets.StateFailed || tk.State == tickets.StateRolledBack || tk.State == tickets.StateSucceeded && !c.kind.rollback ||
				tk.Result != nil && tk.Result.RollbackError != "":
				t.Fatalf("%s: ended %s before its step: %+v", c.name(), tk.State, tk.Result)
			}
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d cases did not reach their step", waiting)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("all %d cases paused at their steps after %s", len(cases), time.Since(began).Round(100*time.Millisecond))
	kill9(t, first)

	// Right after the kill, with no worker running: live is reachable and
	// exactly as before, or exactly as after.
	for _, c := range cases {
		before, after := c.beforeAfter()
		want := map[bool]string{false: before, true: after}[c.changed]
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := c.fingerprint(cctx, c.h.db)
		cancel()
		if err != nil {
			t.Errorf("%s: live after the kill: %v", c.name(), err)
		} else if got != want {
			t.Errorf("%s: live after the kill is %s", c.name(), describe(got, before, after))
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	began = time.Now()
	start()
	for _, c := range cases {
		c := c
		tk := c.h.wait(c.ticket.ID, 4*time.Minute, func(tk tickets.Ticket) bool {
			if c.kind.rollback {
				return tk.State == tickets.StateRolledBack || tk.Result != nil && tk.Result.RollbackError != ""
			}
			return tk.State != tickets.StateQueued && tk.State != tickets.StateRunning
		})
		c.ticket = tk
	}
	t.Logf("a fresh worker finished all %d cases in %s", len(cases), time.Since(began).Round(100*time.Millisecond))
	began = time.Now()
	for _, c := range cases {
		c.check(t)
	}
	t.Logf("checked in %s", time.Since(began).Round(100*time.Millisecond))
}

// check asserts a case's end state.
func (c *crashCase) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	h, tk, name := c.h, c.ticket, c.name()
	want := tickets.StateSucceeded
	if c.kind.rollback {
		want = tickets.StateRolledBack
	}
	if tk.State != want {
		t.Errorf("%s: ticket %s, want %s: %+v", name, tk.State, want, tk.Result)
		return
	}
	before, after := c.beforeAfter()
	if got, err := c.fingerprint(ctx, h.db); err != nil || got != after {
		t.Errorf("%s: live at the end is %s (%v)", name, describe(got, before, after), err)
	}
	if c.kind.mode == tickets.ModeNewProject {
		if got, err := c.fingerprint(ctx, tk.Result.TargetDatabase); err != nil || got != c.s1 {
			t.Errorf("%s: the new project's database %s does not hold the snapshot (%v)", name, tk.Result.TargetDatabase, err)
		}
	}
	if c.kind.rollback && c.kind.scope.Kind == tickets.ScopeFull {
		if got, err := c.fingerprint(ctx, tk.Result.RollbackKept); err != nil || got != c.s1 {
			t.Errorf("%s: the aside copy %q is not the restored database (%v)", name, tk.Result.RollbackKept, err)
		}
	}
	if c.kind.rollback && !strings.Contains(tk.Result.RollbackSummary, "kept") {
		t.Errorf("%s: the rollback does not say where the writes since were kept: %q", name, tk.Result.RollbackSummary)
	}

	// What is on the cluster is exactly what the records say.
	var recorded []string
	for _, r := range h.activeRecords(tk.ID) {
		if r.Purpose == tickets.PurposeStaging {
			t.Errorf("%s: staging %s still recorded %s", name, r.Name, r.State)
		}
		if r.Schema == "" && r.Name != h.db {
			recorded = append(recorded, r.Name)
			if !h.databaseExists(r.Name) {
				t.Errorf("%s: recorded %v is not on the cluster", name, r)
			}
		}
	}
	for _, db := range h.derivedDatabases() {
		if !slices.Contains(recorded, db) {
			t.Errorf("%s: database %s is on the cluster, not recorded as the ticket's (recorded: %v)", name, db, recorded)
		}
	}

	var safety int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM snapshots WHERE project_ref = $1 AND kind = 'manual'`, h.ref).Scan(&safety); err != nil {
		t.Fatal(err)
	}
	if wantSafety := map[bool]int{true: 1, false: 0}[c.kind.mode == tickets.ModeDestructive]; safety != wantSafety {
		t.Errorf("%s: %d safety snapshots, want %d", name, safety, wantSafety)
	}

	// The step log shows the killed attempt's step unfinished, and the
	// attempt that finished with every step finished.
	op := map[bool]string{false: tickets.StepOpRestore, true: tickets.StepOpRollback}[c.kind.rollback]
	steps, err := tickets.StepsOf(ctx, h.pool, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	unfinished, last := 0, 0
	for _, s := range steps {
		if s.Op == op {
			last = max(last, s.Attempt)
		}
	}
	for _, s := range steps {
		if s.Op == op && s.FinishedAt == nil {
			unfinished++
			if s.Attempt == last {
				t.Errorf("%s: step %s of the last attempt %d is not finished", name, s.Step, last)
			}
		}
	}
	if unfinished != 1 || last < 2 {
		t.Errorf("%s: step log has %d unfinished steps over %d attempts, want the killed attempt's one and a later attempt", name, unfinished, last)
	}

	kind, id := "restore", tk.JobID
	if c.kind.rollback {
		kind = "restore_rollback"
	}
	var attempts int
	var state string
	err = h.pool.QueryRow(ctx, `SELECT attempt, state FROM river_job WHERE kind = $1 AND (id = $2 OR $1 = 'restore_rollback' AND (args->>'ticket_id')::bigint = $3)
		ORDER BY id DESC LIMIT 1`, kind, id, tk.ID).Scan(&attempts, &state)
	if err != nil || attempts < 2 || state != "completed" {
		t.Errorf("%s: %s job attempt %d, %s (%v): want a completed retry", name, kind, attempts, state, err)
	}
}

// describe names which known state a fingerprint is, for failure messages.
func describe(got, before, after string) string {
	switch got {
	case before:
		return "the state before"
	case after:
		return "the state after"
	}
	return "neither the state before nor after (a mix): " + got
}
