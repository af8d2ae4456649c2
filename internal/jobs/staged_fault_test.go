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

// fullStagedFixture is stagedFixture for a full destructive restore with
// the full restore's staged review.
func fullStagedFixture(h *harness) (tickets.Ticket, []string, []string, []string, string) {
	h.t.Helper()
	snap := h.capture()
	atSnapshot := h.tableDigest("storage.objects")
	free := `SELECT id FROM storage.objects WHERE id NOT IN (SELECT object_id FROM ai.documents WHERE object_id IS NOT NULL) ORDER BY id`
	deleted := liveQuery[[]int64](h, h.db, `WITH d AS (DELETE FROM storage.objects WHERE id IN (`+free+` LIMIT 2) RETURNING id) SELECT array_agg(id ORDER BY id) FROM d`)
	inserted := liveQuery[[]int64](h, h.db, `WITH i AS (INSERT INTO storage.objects (path) VALUES ('new/1'), ('new/2') RETURNING id) SELECT array_agg(id ORDER BY id) FROM i`)
	updated := liveQuery[[]int64](h, h.db, `WITH u AS (UPDATE storage.objects SET path = path || '.changed' WHERE id = (`+free+` LIMIT 1) RETURNING id) SELECT array_agg(id) FROM u`)
	tk := h.ticket(snap, tickets.Scope{Kind: tickets.ScopeFull}, tickets.ModeDestructive, tickets.Options{StagedReviewFull: true})
	return tk, idKeys(inserted), idKeys(deleted), idKeys(updated), atSnapshot
}

// TestStagedReviewFullRestore: a full destructive restore with its staged
// review pauses after the verified copy with every table compared: exactly
// the rows changed since the snapshot in storage.objects, nothing elsewhere;
// live is untouched while it waits; the preparer is refused; the confirmed
// cut-over goes on from the copy (no second apply) and live holds the
// snapshot.
func TestStagedReviewFullRestore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startRiver()
	ctx := context.Background()
	tk, inserted, deleted, updated, atSnapshot := fullStagedFixture(h)
	before := h.checksum(h.db)
	rv := waitReview(h, tk.ID)
	tables := liveQuery[int64](h, h.db, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'`)
	if int64(len(rv.Tables)) != tables {
		t.Fatalf("the review compares %d tables, live has %d", len(rv.Tables), tables)
	}
	for _, r := range rv.Tables {
		if r.Table == "storage.objects" {
			if !slices.Equal(r.OnlyLive.Samples, inserted) || !slices.Equal(r.OnlySnapshot.Samples, deleted) || !slices.Equal(r.Differ.Samples, updated) {
				t.Errorf("storage.objects: %+v", r)
			}
		} else if r.OnlyLive.Count+r.OnlySnapshot.Count+r.Differ.Count != 0 || len(r.Schema) != 0 {
			t.Errorf("%s differs although it did not change: %+v", r.Table, r)
		}
	}
	if h.checksum(h.db) != before || !h.databaseExists(rv.StagingDatabase) {
		t.Fatal("live changed while paused, or the copy is gone")
	}
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.operator, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); err == nil {
		t.Error("the preparer confirmed")
	}
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateSucceeded {
		t.Fatalf("after confirmation: %s %q", tk.State, tk.Result.Message)
	}
	for _, s := range tk.Result.Steps {
		if s.Step == "apply" {
			t.Errorf("the confirmed run applied the dump again: %+v", tk.Result.Steps)
		}
	}
	if h.tableDigest("storage.objects") != atSnapshot {
		t.Error("live does not hold the snapshot's rows after the cut-over")
	}
}

// TestStagedReviewFullRestoreAbandon: abandoning the full restore's review
// drops the copy; live is byte-identical.
func TestStagedReviewFullRestoreAbandon(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startRiver()
	tk, _, _, _, _ := fullStagedFixture(h)
	before := h.checksum(h.db)
	rv := waitReview(h, tk.ID)
	if _, err := tickets.StagedReviewAbandon(context.Background(), h.pool, h.operator, tk.ID, tickets.ReviewDecision{Digest: rv.Digest()}); err != nil {
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
