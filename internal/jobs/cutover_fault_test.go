package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestFailureInsideTheCutoverRollsItBack fails a full destructive restore
// while its cut-over holds live (renames done, not committed): the renames
// roll back, the ticket fails naming the step, live is the database it was
// and reachable, staging is dropped, and the cut-over record says undone.
func TestFailureInsideTheCutoverRollsItBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.startWithFaults()
	snap, before := h.snapshotThenChange()

	tk := h.waitFinal(h.queued(snap, full, tickets.ModeDestructive, f, jobs.StepBlocked).ID)
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, string(jobs.StepBlocked)) {
		t.Fatalf("failure inside the cut-over: ticket %s %+v", tk.State, tk.Result)
	}
	h.wantLive(before, "a cut-over that failed before its commit changed live")
	if staging := fmt.Sprintf("%s_stg_t%d", h.db, tk.ID); h.databaseExists(staging) {
		t.Fatal("staging left behind by the failed cut-over")
	}
	rec, err := tickets.CutoverGet(context.Background(), h.pool, tk.ID, tickets.CutoverRestore)
	if err != nil || rec.State != tickets.CutoverUndone || rec.EndedAt == nil || !strings.Contains(rec.Note, "nothing committed") {
		t.Fatalf("cut-over record after the failure: %+v %v", rec, err)
	}
}
