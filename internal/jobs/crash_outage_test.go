package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// withPrivatePortal moves harness h's portal database onto a private
// Postgres cluster of the test's own (migrated, with the project and staff
// registered again), so the test may restart the portal's Postgres without
// disturbing the tests beside it. The project's cluster stays the stack's.
func (h *harness) withPrivatePortal() *testenv.PrivateCluster {
	h.t.Helper()
	ctx := context.Background()
	pc := testenv.NewPrivateCluster(h.t)
	admin, err := pgx.Connect(ctx, pc.AdminURL)
	if err != nil {
		h.t.Fatal(err)
	}
	_, err = admin.Exec(ctx, `CREATE DATABASE portal`)
	admin.Close(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	url := strings.Replace(pc.AdminURL, "/postgres?", "/portal?", 1)
	pool, err := database.Open(ctx, url)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(pool.Close)
	if err := database.Migrate(ctx, pool, h.deps.Log); err != nil {
		h.t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')`, h.ref, h.db); err != nil {
		h.t.Fatal(err)
	}
	h.pool, h.portalURL, h.deps.Pool = pool, url, pool
	op := tickettest.User(h.t, pool, "op-"+h.ref+"@example.com", auth.RoleOperator)
	ap := tickettest.User(h.t, pool, "ap-"+h.ref+"@example.com", auth.RoleApprover)
	h.operator, h.approver = tickets.UserActor(op, "test"), tickets.UserActor(ap, "test")
	return pc
}

// TestPortalDatabaseRestartMidRestoreSucceeds restarts the portal's own
// Postgres (pg_ctl restart -m fast: every session of the worker, its River
// client and the restore's project lock included, is ended) while a
// destructive restore streams its data. The restore carries on or is
// retried by River under the same job and approval, and succeeds: live is
// the snapshot's source, one safety snapshot, no staging left, no approval
// added, the step log complete.
func TestPortalDatabaseRestartMidRestoreSucceeds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.exec(bigTable)
	pc := h.withPrivatePortal()
	deps := h.slowDeps()
	deps.Config.Worker.PGRetryFor = 2 * time.Minute
	h.startRiverWith(deps)
	snap, atSnapshot := h.snapshotDumpThenChange()
	ctx := context.Background()

	tk := h.restoreInDataPhase(snap, tickets.ModeDestructive)
	pc.Restart()
	// The test's own pool holds connections the restart closed: drop them and
	// wait until the portal answers the test again, so what follows reads the
	// restore, not a dead connection (the worker has its own retries, which are
	// what this test is about).
	h.pool.Reset()
	for deadline := time.Now().Add(time.Minute); ; {
		err := h.pool.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the portal's Postgres does not answer after its restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	done := h.waitFinal(tk.ID)
	wantState(t, done, tickets.StateSucceeded, "restore across a restart of the portal's Postgres")
	if done.JobID != tk.JobID {
		t.Fatalf("the restore ran as job %d, approved as job %d: a new approval was needed", done.JobID, tk.JobID)
	}
	var state string
	if err := h.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, tk.JobID).Scan(&state); err != nil || state != "completed" {
		t.Fatalf("job %d is %q (%v), want completed", tk.JobID, state, err)
	}
	h.wantLiveDump(atSnapshot, "after the restart")
	if n := h.safetySnapshots(); n != 1 {
		t.Fatalf("%d safety snapshots, want 1", n)
	}
	if h.databaseExists(cluster.StagingName(h.db, tk.ID)) {
		t.Fatal("staging database left behind")
	}
	var approved int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM approvals WHERE ticket_id = $1`, tk.ID).Scan(&approved); err != nil {
		t.Fatal(err)
	}
	if approved != 1 {
		t.Fatalf("%d approvals of the ticket, want the one it was queued with", approved)
	}
	steps, err := tickets.StepsOf(ctx, h.pool, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	finished := map[string]bool{}
	for _, s := range steps {
		if s.FinishedAt != nil {
			finished[s.Step] = true
		}
	}
	for _, want := range []string{"precheck", "prepare", "apply", "verify", tickets.PhaseCutover, "follow-ups"} {
		if !finished[want] {
			t.Errorf("step log lacks a finished %q: %+v", want, steps)
		}
	}
}

// TestCancelDuringS3OutageEndsCancelled cancels a restore (destructive, and
// into a new project) while S3 is away (every connection refused, the reader
// retrying within PORTAL_S3_RETRY_FOR): the cancel does not wait for S3 to
// come back. The ticket ends cancelled, the database the restore was
// filling (staging, or the new project's) is dropped, nothing it made stays
// recorded, the job ends, and the live database is unchanged; all while the
// outage lasts.
func TestCancelDuringS3OutageEndsCancelled(t *testing.T) {
	t.Parallel()
	for _, mode := range []tickets.Mode{tickets.ModeDestructive, tickets.ModeNewProject} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			cancelDuringS3Outage(t, mode)
		})
	}
}

func cancelDuringS3Outage(t *testing.T, mode tickets.Mode) {
	h := newHarness(t)
	h.exec(bigTable)
	fp := testenv.NewFaultProxy(t, strings.TrimPrefix(h.slowS3Endpoint(), "http://"), testenv.FaultOptions{})
	t.Cleanup(fp.EndOutage)
	viaProxy := h.cfg.S3
	viaProxy.Endpoint = "http://" + fp.Addr
	s3c, err := objstore.New(context.Background(), viaProxy)
	if err != nil {
		t.Fatal(err)
	}
	deps := h.deps
	deps.S3 = s3c
	deps.Config.S3.RetryFor = 10 * time.Minute
	h.startRiverWith(deps)
	snap, before := h.snapshotThenChange()
	ctx := context.Background()

	tk := h.restoreInDataPhase(snap, mode)
	fp.StartOutage()
	// The reader has noticed: it is retrying (the data phase makes no progress).
	select {
	case <-fp.Refused():
	case <-time.After(time.Minute):
		t.Fatal("the restore did not try S3 again during the outage")
	}
	cancelled := time.Now()
	if _, err := tickets.Cancel(ctx, h.pool, h.operator, tk.ID, "customer changed their mind"); err != nil {
		t.Fatalf("cancel during the outage: %v", err)
	}
	h.waitJobFinalized(tk.JobID)
	t.Logf("the job ended %s after the cancel, S3 still away", time.Since(cancelled).Round(time.Millisecond))
	got, err := tickets.TicketGet(ctx, h.pool, tk.ID)
	if err != nil || got.State != tickets.StateCancelled {
		t.Fatalf("ticket after a cancel during the outage: %s, %v", got.State, err)
	}
	filling := cluster.StagingName(h.db, tk.ID)
	if mode == tickets.ModeNewProject {
		filling = cluster.NewProjectDatabase(got.TargetRef())
	}
	if h.databaseExists(filling) {
		t.Fatalf("the cancelled restore left %s", filling)
	}
	for _, r := range h.activeRecords(tk.ID) {
		t.Errorf("the cancelled restore left %v recorded", r)
	}
	h.wantLive(before, "a restore cancelled during an S3 outage changed the live database")
	if fp.Accepted() == 0 {
		t.Fatal("nothing went through the proxy")
	}
}
