package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestRestoreDoesNotWaitBehindCaptures queues five captures of a project with
// a large table (one capture slot, PORTAL_CAPTURE_CONCURRENCY's default),
// then approves a restore: it reaches running within a few seconds, while
// captures are still queued or running.
func TestRestoreDoesNotWaitBehindCaptures(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.exec(bigTable)
	snap := h.capture()
	h.startRiver()
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := jobs.InsertCaptureNow(ctx, h.river, h.ref); err != nil {
			t.Fatal(err)
		}
	}
	// The captures occupy their slot before the restore is approved.
	deadline := time.Now().Add(30 * time.Second)
	for h.captureJobs("running") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no capture started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	approved := time.Now()
	tk := h.ticket(snap, ordersScope, tickets.ModeNewProject, tickets.Options{})
	h.wait(tk.ID, 5*time.Second, func(tk tickets.Ticket) bool { return tk.State != tickets.StateQueued })
	waited := time.Since(approved)
	pending := h.captureJobs("available") + h.captureJobs("running")
	if pending == 0 {
		t.Fatal("every capture had finished before the restore started: the test proves nothing")
	}
	t.Logf("restore started %s after approval with %d captures still queued or running", waited.Round(time.Millisecond), pending)
	if done := h.waitFinal(tk.ID); done.State != tickets.StateSucceeded {
		t.Fatalf("restore: %s %+v", done.State, done.Result)
	}
}

func (h *harness) captureJobs(state string) int {
	h.t.Helper()
	var n int
	err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1 AND state = $2 AND queue = $3`,
		snapshots.CaptureArgs{}.Kind(), state, jobs.QueueCapture).Scan(&n)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}
