package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// newPrivateClusterHarness is a harness whose project cluster is a private
// Postgres of the test's own, which it may stop and restart without
// disturbing the tests running beside it; the restore's S3 reads go through
// a slow proxy, so the data phase lasts long enough to be interrupted.
func newPrivateClusterHarness(t *testing.T, retryFor time.Duration) (*harness, *testenv.PrivateCluster) {
	t.Helper()
	pc := testenv.NewPrivateCluster(t)
	h := newHarnessWith(t, randomRef(), func(c *config.Config) {
		c.ProjectsAdminURL = pc.AdminURL
		c.Clusters = map[string]string{cluster.Default: pc.AdminURL}
		c.Worker.PGRetryFor = retryFor
	})
	h.exec(bigTable)
	h.startRiverWith(h.slowDeps())
	return h, pc
}

// jobMeta reads the restore job's attempt and the counters in its metadata.
func (h *harness) jobMeta(jobID int64) (attempt int, faultRetries, rescues string) {
	h.t.Helper()
	err := h.pool.QueryRow(context.Background(), `SELECT attempt, coalesce(metadata->>'portal:pg_fault_retries', ''),
		coalesce(metadata->>'portal:rescue_count', '') FROM river_job WHERE id = $1`, jobID).Scan(&attempt, &faultRetries, &rescues)
	if err != nil {
		h.t.Fatal(err)
	}
	return attempt, faultRetries, rescues
}

// TestProjectClusterRestartDuringDataPhaseIsRetried restarts the project
// cluster (pg_ctl restart -m fast) while a destructive restore streams its
// data: the same job, under the same approval, resumes from its record
// (staging made again, the safety snapshot reused) and succeeds, the live
// database exactly the snapshot's source; no attempt is counted as a dead
// worker's.
func TestProjectClusterRestartDuringDataPhaseIsRetried(t *testing.T) {
	t.Parallel()
	h, pc := newPrivateClusterHarness(t, 2*time.Minute)
	snap, atSnapshot := h.snapshotDumpThenChange()

	tk := h.restoreInDataPhase(snap, tickets.ModeDestructive)
	pc.Restart()

	done := h.waitFinal(tk.ID)
	wantState(t, done, tickets.StateSucceeded, "restore across a project cluster restart")
	h.wantLiveDump(atSnapshot, "after the retried restore")
	if done.JobID != tk.JobID {
		t.Fatalf("the restore ran as job %d, approved as job %d: a new approval was needed", done.JobID, tk.JobID)
	}
	_, retries, rescues := h.jobMeta(tk.JobID)
	if retries == "" || retries == "0" {
		t.Fatal("the job's metadata records no Postgres fault retry: the restart did not land in the restore")
	}
	if rescues != "" {
		t.Fatalf("the fault was counted as a dead worker's attempt (rescues %s)", rescues)
	}
	if !strings.Contains(done.Result.Message, "Safety snapshot") {
		t.Fatalf("result names no safety snapshot: %q", done.Result.Message)
	}
	var safeties int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM snapshots WHERE project_ref = $1 AND key <> $2`, h.ref, snap.Key).Scan(&safeties); err != nil {
		t.Fatal(err)
	}
	if safeties != 1 {
		t.Fatalf("%d safety snapshots taken: want one, reused by the retry", safeties)
	}
	if h.databaseExists(fmt.Sprintf("%s_stg_t%d", h.db, tk.ID)) {
		t.Fatal("staging database left behind")
	}
	steps := map[string]bool{}
	for _, s := range done.Result.Steps {
		steps[s.Step] = true
	}
	for _, want := range []string{"precheck", "prepare", "apply", "verify", tickets.PhaseCutover, "follow-ups"} {
		if !steps[want] {
			t.Errorf("result's step timings lack %q: %+v", want, done.Result.Steps)
		}
	}
}

// TestProjectClusterOutageBeyondWindowFailsCleanly stops the project cluster
// during the data phase for longer than PORTAL_PG_RETRY_FOR (3s here): the
// ticket fails with the last error, saying how long Postgres was away, and
// the live database is unchanged once the cluster is back.
func TestProjectClusterOutageBeyondWindowFailsCleanly(t *testing.T) {
	t.Parallel()
	h, pc := newPrivateClusterHarness(t, 3*time.Second)
	snap, before := h.snapshotThenChange()

	tk := h.restoreInDataPhase(snap, tickets.ModeDestructive)
	pc.Stop()
	stopped := time.Now()
	done := h.waitEnded(tk.ID, 2*time.Minute)
	outage := time.Since(stopped)
	pc.Start()
	h.waitJobFinalized(tk.JobID)

	wantState(t, done, tickets.StateFailed, "ticket after a long outage")
	if outage < 3*time.Second {
		t.Fatalf("the ticket failed %s into the outage, before the 3s window ended: %s", outage, done.Result.Message)
	}
	msg := done.Result.Message
	if !strings.Contains(msg, "Postgres was unavailable") || !strings.Contains(msg, "Last error:") {
		t.Fatalf("failure message does not say Postgres was away, with the last error: %q", msg)
	}
	h.wantLive(before, "a restore that failed during an outage changed the live database")
	var state string
	if err := h.pool.QueryRow(context.Background(), `SELECT state FROM river_job WHERE id = $1`, tk.JobID).Scan(&state); err != nil || state != "cancelled" {
		t.Fatalf("job state %q (%v): want cancelled, not retried further", state, err)
	}
}

// TestCancelDuringPostgresOutageDropsStaging cancels a restore while its job
// waits out an outage of the project cluster (no attempt runs to drop its
// staging database): once the cluster is back, the job's next attempt drops
// the staging database the ticket recorded, and the live database is
// unchanged.
func TestCancelDuringPostgresOutageDropsStaging(t *testing.T) {
	t.Parallel()
	h, pc := newPrivateClusterHarness(t, 2*time.Minute)
	snap, before := h.snapshotThenChange()

	tk := h.restoreInDataPhase(snap, tickets.ModeDestructive)
	pc.Stop()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, retries, _ := h.jobMeta(tk.JobID); retries != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job recorded no Postgres fault a minute into the outage")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := tickets.Cancel(context.Background(), h.pool, h.operator, tk.ID, "customer found the rows"); err != nil {
		t.Fatalf("cancel during the outage: %v", err)
	}
	pc.Start()
	h.waitCancelled(tk, before, "the cluster came back")
}
