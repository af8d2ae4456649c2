package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/tickets"
)

// stagedFixture captures a snapshot, then changes storage.objects live:
// deletes two rows, inserts two, updates one. It returns the keys, as the
// comparison writes them.
func stagedFixture(h *harness) (tickets.Ticket, []string, []string, []string) {
	h.t.Helper()
	snap := h.capture()
	keys := func(ids []int64) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = fmt.Sprintf("id=%d", id)
		}
		return out
	}
	free := `SELECT id FROM storage.objects WHERE id NOT IN (SELECT object_id FROM ai.documents WHERE object_id IS NOT NULL) ORDER BY id`
	deleted := liveQuery[[]int64](h, h.db, `WITH d AS (DELETE FROM storage.objects WHERE id IN (`+free+` LIMIT 2) RETURNING id)
		SELECT array_agg(id ORDER BY id) FROM d`)
	inserted := liveQuery[[]int64](h, h.db, `WITH i AS (INSERT INTO storage.objects (path) VALUES ('new/1'), ('new/2') RETURNING id)
		SELECT array_agg(id ORDER BY id) FROM i`)
	updated := liveQuery[[]int64](h, h.db, `WITH u AS (UPDATE storage.objects SET path = path || '.changed' WHERE id = (`+free+` LIMIT 1) RETURNING id)
		SELECT array_agg(id) FROM u`)
	if len(deleted) != 2 || len(inserted) != 2 || len(updated) != 1 {
		h.t.Fatalf("fixture: deleted %v inserted %v updated %v", deleted, inserted, updated)
	}
	scope := tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"storage.objects"}}
	tk := h.ticket(snap, scope, tickets.ModeDestructive, tickets.Options{StagedReview: true})
	return tk, keys(inserted), keys(deleted), keys(updated)
}

// waitReview waits until the ticket's restore paused for review.
func waitReview(h *harness, id int64) tickets.StagedReview {
	h.t.Helper()
	h.wait(id, 3*time.Minute, func(tk tickets.Ticket) bool {
		return tk.State != tickets.StateRunning && tk.State != tickets.StateQueued ||
			tk.Progress != nil && tk.Progress.Phase == tickets.PhaseAwaitingCutover
	})
	rv, err := tickets.StagedReviewGet(context.Background(), h.pool, id)
	if err != nil {
		tk, _ := tickets.TicketGet(context.Background(), h.pool, id)
		h.t.Fatalf("no staged review: %v (ticket %s %+v)", err, tk.State, tk.Result)
	}
	return rv
}

// TestStagedReviewReportsExactlyTheChangedKeysThenConfirms: the paused
// restore's comparison lists exactly the rows deleted, inserted and updated
// since the snapshot; live is untouched while it waits; a stale or wrongly
// typed confirmation is refused; the confirmed cut-over continues from the
// verified copy (nothing is restored again) and live gets the snapshot's rows.
func TestStagedReviewReportsExactlyTheChangedKeysThenConfirms(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startRiver()
	ctx := context.Background()
	tk, inserted, deleted, updated := stagedFixture(h)
	liveBefore := h.tableDigest("storage.objects")
	rv := waitReview(h, tk.ID)
	if rv.State != tickets.ReviewAwaiting || len(rv.Tables) != 1 {
		t.Fatalf("review: %+v", rv)
	}
	r := rv.Tables[0]
	eq := func(what string, d compare.Diff, want []string) {
		t.Helper()
		if d.Count != int64(len(want)) || !slices.Equal(d.Samples, want) {
			t.Errorf("%s: %+v, want %q", what, d, want)
		}
	}
	eq("only live (lost by the cut-over)", r.OnlyLive, inserted)
	eq("only in the snapshot (brought back)", r.OnlySnapshot, deleted)
	eq("differ", r.Differ, updated)
	if r.Table != "storage.objects" || r.WholeRow || len(r.Schema) != 0 {
		t.Errorf("result: %+v", r)
	}
	if h.tableDigest("storage.objects") != liveBefore {
		t.Fatal("live changed while the restore awaits its review")
	}
	if !h.databaseExists(rv.StagingDatabase) {
		t.Fatalf("the reviewed copy %s is gone", rv.StagingDatabase)
	}
	// Refused: the preparer, a wrong ref, a stale digest.
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.operator, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); !errors.As(err, new(*tickets.PermissionError)) {
		t.Errorf("operator confirms: %v", err)
	}
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: "nope"}); !errors.As(err, new(*tickets.ValidationError)) {
		t.Errorf("wrong ref: %v", err)
	}
	stale := rv
	stale.CreatedAt = stale.CreatedAt.Add(-time.Hour) // a review of another attempt
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: stale.Digest(), ConfirmRef: h.ref}); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("stale confirm: %v", err)
	}
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); err != nil {
		t.Fatal(err)
	}
	// Confirmed twice: the second one finds the review decided.
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("confirm twice: %v", err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateSucceeded {
		t.Fatalf("after confirmation: %s %s", tk.State, tk.Result.Message)
	}
	for _, s := range tk.Result.Steps {
		if s.Step == "apply" {
			t.Errorf("the confirmed run applied the dump again: %+v", tk.Result.Steps)
		}
	}
	ids := liveQuery[[]int64](h, h.db, `SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM storage.objects WHERE path LIKE 'new/%' OR path LIKE '%.changed'`)
	if len(ids) != 0 {
		t.Errorf("rows written since the snapshot are still live: %v", ids)
	}
	for _, k := range deleted {
		id := strings.TrimPrefix(k, "id=")
		if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM storage.objects WHERE id = `+id); n != 1 {
			t.Errorf("deleted row %s did not come back", id)
		}
	}
}

// TestStagedReviewAbandonLeavesLiveUntouched: abandoning drops the copy and
// ends the ticket; the live table is exactly as it was.
func TestStagedReviewAbandonLeavesLiveUntouched(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startRiver()
	ctx := context.Background()
	tk, _, _, _ := stagedFixture(h)
	liveBefore := h.tableDigest("storage.objects")
	rv := waitReview(h, tk.ID)
	if _, err := tickets.StagedReviewAbandon(ctx, h.pool, h.operator, tk.ID, tickets.ReviewDecision{Digest: "stale"}); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("stale abandon: %v", err)
	}
	if _, err := tickets.StagedReviewAbandon(ctx, h.pool, h.operator, tk.ID, tickets.ReviewDecision{Digest: rv.Digest()}); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "abandoned") || !strings.Contains(tk.Result.Message, "not changed") {
		t.Fatalf("after abandon: %s %q", tk.State, tk.Result.Message)
	}
	if h.tableDigest("storage.objects") != liveBefore {
		t.Error("abandon changed live")
	}
	if h.databaseExists(rv.StagingDatabase) {
		t.Errorf("the copy %s was not dropped", rv.StagingDatabase)
	}
	// Confirming now is refused: the review is decided.
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); err == nil {
		t.Error("confirmed an abandoned review")
	}
}

// TestStagedReviewExpires: an unconfirmed pause past its time is expired by
// the paused job itself when it next looks: the copy is dropped, live kept.
func TestStagedReviewExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startRiver()
	ctx := context.Background()
	tk, _, _, _ := stagedFixture(h)
	liveBefore := h.tableDigest("storage.objects")
	rv := waitReview(h, tk.ID)
	// Its time is up; wake the job as a decision would.
	if _, err := h.pool.Exec(ctx, `UPDATE ticket_staged_reviews SET expires_at = now() WHERE ticket_id = $1`, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE river_job SET scheduled_at = now() WHERE id = $1 AND state = 'scheduled'`, rv.JobID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("confirm after expiry: %v", err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "expired") {
		t.Fatalf("after expiry: %s %q", tk.State, tk.Result.Message)
	}
	if h.tableDigest("storage.objects") != liveBefore || h.databaseExists(rv.StagingDatabase) {
		t.Error("expiry changed live or kept the copy")
	}
	if rv, err := tickets.StagedReviewGet(ctx, h.pool, tk.ID); err != nil || rv.State != tickets.ReviewExpired {
		t.Errorf("review after expiry: %+v %v", rv, err)
	}
}

// TestStagedReviewCopyGoneBeforeConfirm: the reviewed copy disappears while
// the restore waits (dropped by hand, a lost cluster); the confirmed cut-over
// then fails closed: live is exactly as it was, nothing restored blind.
func TestStagedReviewCopyGoneBeforeConfirm(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startRiver()
	ctx := context.Background()
	tk, _, _, _ := stagedFixture(h)
	liveBefore := h.tableDigest("storage.objects")
	rv := waitReview(h, tk.ID)
	admin, err := h.cl.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE "+pgxIdent(rv.StagingDatabase)+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateFailed {
		t.Fatalf("confirmed without its copy: %s %q", tk.State, tk.Result.Message)
	}
	if h.tableDigest("storage.objects") != liveBefore {
		t.Error("live changed although the reviewed copy was gone")
	}
}

func pgxIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// TestStagedReviewCancelledWhilePaused: cancelling the ticket during the
// pause is allowed (it is not the cut-over); the paused job, when it next
// looks, drops the copy; live is untouched.
func TestStagedReviewCancelledWhilePaused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startRiver()
	ctx := context.Background()
	tk, _, _, _ := stagedFixture(h)
	liveBefore := h.tableDigest("storage.objects")
	rv := waitReview(h, tk.ID)
	if _, err := tickets.Cancel(ctx, h.pool, h.operator, tk.ID, "customer changed their mind"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for h.databaseExists(rv.StagingDatabase) {
		if time.Now().After(deadline) {
			t.Fatalf("the copy %s of the cancelled restore is still there", rv.StagingDatabase)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if h.tableDigest("storage.objects") != liveBefore {
		t.Error("cancel changed live")
	}
	if _, err := tickets.StagedReviewConfirm(ctx, h.pool, h.approver, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: h.ref}); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("confirm after cancel: %v", err)
	}
}
