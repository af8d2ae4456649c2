package jobs_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// workerProcesses builds the real worker binary and returns a function that
// starts one more process of it with env added to the harness's settings,
// reading S3 through the slow proxy, with no capture schedule.
func (h *harness) workerProcesses(extra ...string) (start func() *exec.Cmd) {
	h.t.Helper()
	run := h.workerCommand(h.slowS3Endpoint(), append([]string{"PORTAL_CAPTURE_SCHEDULE="}, extra...)...)
	return func() *exec.Cmd { return run() }
}

// TestCrashLoopEndsFailedWithOneSafetySnapshot kills the worker binary in
// the data phase of every attempt of a destructive restore. With
// PORTAL_RESTORE_MAX_ATTEMPTS=2, after the second death the next worker
// fails the ticket, naming the deaths and what the ticket left on the
// cluster; every attempt reused the one safety snapshot, and the live
// database is unchanged.
func TestCrashLoopEndsFailedWithOneSafetySnapshot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.exec(bigTable)
	snap, before := h.snapshotThenChange()
	start := h.workerProcesses("PORTAL_RESTORE_MAX_ATTEMPTS=2")
	ctx := context.Background()

	tk := h.ticket(snap, full, tickets.ModeDestructive, tickets.Options{})
	for attempt := 1; attempt <= 2; attempt++ {
		w := start()
		h.wait(tk.ID, 3*time.Minute, func(tk tickets.Ticket) bool {
			var n int
			var at time.Time
			if err := h.pool.QueryRow(ctx, `SELECT attempt, coalesce(attempted_at, now()) FROM river_job WHERE id = $1`, tk.JobID).Scan(&n, &at); err != nil {
				t.Fatal(err)
			}
			return n == attempt && inDataPhase(tk) && tk.Progress.UpdatedAt.After(at)
		})
		kill9(t, w)
		if h.checksum(h.db) != before {
			t.Fatalf("attempt %d: the live database changed", attempt)
		}
	}
	start()
	done := h.wait(tk.ID, 3*time.Minute, func(tk tickets.Ticket) bool { return tk.State != tickets.StateRunning })
	h.waitJobFinalized(tk.JobID)
	staging := cluster.StagingName(h.db, tk.ID)
	if done.State != tickets.StateFailed || !strings.Contains(done.Result.Message, "stopped 2 times") ||
		!strings.Contains(done.Result.Message, "Left on the cluster by this ticket: database "+staging+" (staging, made)") {
		t.Fatalf("crash loop: %s %+v", done.State, done.Result)
	}
	if n := h.safetySnapshots(); n != 1 {
		t.Fatalf("%d safety snapshots for one ticket, want 1", n)
	}
	h.wantLive(before, "the live database changed")
	var state string
	if err := h.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, tk.JobID).Scan(&state); err != nil || state != "cancelled" {
		t.Fatalf("job state %q (%v), want cancelled", state, err)
	}
}
