package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestFailuresAfterTheCutoverLeaveTheTicketSucceeded injects a failure after
// a full destructive restore's cut-over: in its follow-ups (scheduling the
// cleanup), right after the swap before it is recorded, and right after it is
// recorded. Each time the ticket ends succeeded with the kept database
// recorded and a rollback offered, and the live database holds the snapshot.
func TestFailuresAfterTheCutoverLeaveTheTicketSucceeded(t *testing.T) {
	t.Parallel()
	for _, step := range []jobs.Step{jobs.StepFollowUps, jobs.StepCutover, jobs.StepRecorded} {
		t.Run(string(step), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			f := h.startWithFaults()
			snap, atSnapshot := h.snapshotDumpThenChange()
			before := h.checksum(h.db)

			tk := h.waitFinal(h.queued(snap, full, tickets.ModeDestructive, f, step).ID)
			if tk.State != tickets.StateSucceeded {
				t.Fatalf("failure at %s after the cut-over: ticket %s %+v", step, tk.State, tk.Result)
			}
			h.wantLiveDump(atSnapshot, "now")
			if tk.Result.KeptDatabase == "" || !tk.Result.Rollbackable(time.Now()) || h.checksum(tk.Result.KeptDatabase) != before {
				t.Fatalf("no rollback offered, or the kept copy is not the replaced database: %+v", tk.Result)
			}
			rec, ok, err := tickets.DatabaseRecordActive(context.Background(), h.pool, tk.Result.KeptDatabase, "")
			if err != nil || !ok || rec.TicketID != tk.ID || rec.State != tickets.RecordMade || rec.DropAfter == nil {
				t.Fatalf("kept database not recorded as made with its drop time: %+v %v %v", rec, ok, err)
			}
			var attempt int
			if err := h.pool.QueryRow(context.Background(), `SELECT attempt FROM river_job WHERE id = $1`, tk.JobID).Scan(&attempt); err != nil {
				t.Fatal(err)
			}
			if wantRetry := step != jobs.StepFollowUps; wantRetry != (attempt > 1) {
				t.Fatalf("failure at %s: job attempts %d (a failure after the swap retries; a follow-up's does not)", step, attempt)
			}
			if step == jobs.StepFollowUps && !strings.Contains(strings.Join(tk.Result.Warnings, " "), "could not be scheduled") {
				t.Fatalf("the unscheduled cleanup is not reported: %v", tk.Result.Warnings)
			}
			if rb := h.rollback(tk.ID); rb.State != tickets.StateRolledBack || h.checksum(h.db) != before {
				t.Fatalf("rollback after a failure at %s: %s %+v", step, rb.State, rb.Result)
			}
		})
	}
}
