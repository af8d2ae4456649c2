package jobs_test

import (
	"context"
	"slices"
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
	return h.cutLiveAtNth(s, 1)
}

// cutLiveAtNth is cutLiveAt for the nth time a ticket reaches step s.
func (h *harness) cutLiveAtNth(s jobs.Step, nth int) (jobs.Deps, func(int64) int) {
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
		if n == nth {
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
	s := h.pauseStaged()
	if err := h.confirmReview(h.approver, s.tk.ID, s.rv.Digest(), h.ref); err != nil {
		t.Fatal(err)
	}
	tk := h.waitFinal(s.tk.ID)
	wantState(t, tk, tickets.StateSucceeded, "after the lost connection")
	if n := reached(tk.ID); n < 2 {
		t.Fatalf("the confirmed cut-over was not retried (backup step reached %d times)", n)
	}
	noSecondApply(t, tk, "the retry restored the snapshot again")
	deletedBack(h, s.deleted)
	if h.databaseExists(s.rv.StagingDatabase) {
		t.Error("the reviewed copy was left behind")
	}
}

// fullStagedFixture is stagedFixture for a full destructive restore with
// the full restore's staged review.
func fullStagedFixture(h *harness) (tickets.Ticket, []string, []string, []string, string) {
	h.t.Helper()
	snap := h.capture()
	atSnapshot := h.tableDigest("storage.objects")
	inserted, deleted, updated := changeObjects(h)
	tk := h.ticket(snap, tickets.Scope{Kind: tickets.ScopeFull}, tickets.ModeDestructive, tickets.Options{StagedReviewFull: true})
	return tk, inserted, deleted, updated, atSnapshot
}

// fullStagedPause is fullStagedFixture's restore paused for its review:
// a stagedPause whose liveBefore is live's checksum, and the digest of
// storage.objects at the snapshot.
type fullStagedPause struct {
	stagedPause
	atSnapshot string
}

// pauseFullStaged makes fullStagedFixture's ticket (River must be running)
// and waits for its review.
func (h *harness) pauseFullStaged() fullStagedPause {
	h.t.Helper()
	var s fullStagedPause
	s.tk, s.inserted, s.deleted, s.updated, s.atSnapshot = fullStagedFixture(h)
	s.liveBefore = h.checksum(h.db)
	s.rv = waitReview(h, s.tk.ID)
	return s
}

// TestStagedReviewFullRestore: a full destructive restore with its staged
// review pauses after the verified copy with every table compared: exactly
// the rows changed since the snapshot in storage.objects, nothing elsewhere;
// live is untouched while it waits; the preparer is refused; the confirmed
// cut-over goes on from the copy (no second apply) and live holds the
// snapshot.
func TestStagedReviewFullRestore(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	s := h.pauseFullStaged()
	tk, rv, before := s.tk, s.rv, s.liveBefore
	tables := liveQuery[int64](h, h.db, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'`)
	if int64(len(rv.Tables)) != tables {
		t.Fatalf("the review compares %d tables, live has %d", len(rv.Tables), tables)
	}
	for _, r := range rv.Tables {
		if r.Table == "storage.objects" {
			if !slices.Equal(r.OnlyLive.Samples, s.inserted) || !slices.Equal(r.OnlySnapshot.Samples, s.deleted) || !slices.Equal(r.Differ.Samples, s.updated) {
				t.Errorf("storage.objects: %+v", r)
			}
		} else if r.OnlyLive.Count+r.OnlySnapshot.Count+r.Differ.Count != 0 || len(r.Schema) != 0 {
			t.Errorf("%s differs although it did not change: %+v", r.Table, r)
		}
	}
	if h.checksum(h.db) != before || !h.databaseExists(rv.StagingDatabase) {
		t.Fatal("live changed while paused, or the copy is gone")
	}
	if err := h.confirmReview(h.operator, tk.ID, rv.Digest(), h.ref); err == nil {
		t.Error("the preparer confirmed")
	}
	if err := h.confirmReview(h.approver, tk.ID, rv.Digest(), h.ref); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	wantState(t, tk, tickets.StateSucceeded, "after confirmation")
	noSecondApply(t, tk, "the confirmed run applied the dump again")
	if h.tableDigest("storage.objects") != s.atSnapshot {
		t.Error("live does not hold the snapshot's rows after the cut-over")
	}
}

// TestStagedReviewFullRestoreAbandon: abandoning the full restore's review
// drops the copy; live is byte-identical.
func TestStagedReviewFullRestoreAbandon(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	s := h.pauseFullStaged()
	tk, rv, before := s.tk, s.rv, s.liveBefore
	if err := h.abandonReview(tk.ID, rv.Digest()); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "abandoned") {
		t.Fatalf("after abandon: %s %q", tk.State, tk.Result.Message)
	}
	if h.checksum(h.db) != before || h.databaseExists(rv.StagingDatabase) {
		t.Fatal("abandon changed live or kept the copy")
	}
}
