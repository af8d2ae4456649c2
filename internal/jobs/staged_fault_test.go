package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/tickets"
)

// cutLiveAt returns a StepHook that terminates every session of the live
// database (a lost connection) the first time a ticket reaches step s, and
// counts how often each ticket reached it.
func (h *harness) cutLiveAt(s jobs.Step) (jobs.Deps, func(int64) int) {
	var mu sync.Mutex
	seen := map[int64]int{}
	deps := h.deps
	deps.StepHook = func(ctx context.Context, ticket int64, at jobs.Step) error {
		if at != s {
			return nil
		}
		mu.Lock()
		seen[ticket]++
		n := seen[ticket]
		mu.Unlock()
		if n == 1 {
			h.adminExec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '` + h.db + `' AND pid <> pg_backend_pid()`)
		}
		return nil
	}
	return deps, func(id int64) int { mu.Lock(); defer mu.Unlock(); return seen[id] }
}

// TestStagedReviewConfirmedSurvivesLostConnection: the confirmed cut-over of
// a destructive tables restore loses its live sessions just after making its
// backup database; the retry goes on from the reviewed copy (kept for it)
// and swaps, instead of failing closed for want of the copy.
func TestStagedReviewConfirmedSurvivesLostConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	deps, reached := h.cutLiveAt(jobs.StepBackedUp)
	h.startRiverWith(deps)
	ctx := context.Background()
	tk, _, deleted, _ := stagedFixture(h)
	rv := waitReview(h, tk.ID)
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateSucceeded {
		t.Fatalf("after the lost connection: %s %q", tk.State, tk.Result.Message)
	}
	if n := reached(tk.ID); n < 2 {
		t.Fatalf("the confirmed cut-over was not retried (backup step reached %d times)", n)
	}
	for _, s := range tk.Result.Steps {
		if s.Step == "apply" {
			t.Errorf("the retry restored the snapshot again: %+v", tk.Result.Steps)
		}
	}
	for _, k := range deleted {
		if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM storage.objects WHERE id = `+strings.TrimPrefix(k, "id=")); n != 1 {
			t.Errorf("deleted row %s did not come back", k)
		}
	}
	if h.databaseExists(rv.StagingDatabase) {
		t.Error("the reviewed copy was left behind")
	}
}
