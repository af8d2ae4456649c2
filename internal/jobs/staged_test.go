package jobs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/tickets"
)

// changeObjects changes storage.objects live (after a snapshot): deletes two
// rows, inserts two, updates one. It returns the keys, as the comparison
// writes them.
func changeObjects(h *harness) (inserted, deleted, updated []string) {
	h.t.Helper()
	free := `SELECT id FROM storage.objects WHERE id NOT IN (SELECT object_id FROM ai.documents WHERE object_id IS NOT NULL) ORDER BY id`
	del := liveQuery[[]int64](h, h.db, `WITH d AS (DELETE FROM storage.objects WHERE id IN (`+free+` LIMIT 2) RETURNING id)
		SELECT array_agg(id ORDER BY id) FROM d`)
	ins := liveQuery[[]int64](h, h.db, `WITH i AS (INSERT INTO storage.objects (path) VALUES ('new/1'), ('new/2') RETURNING id)
		SELECT array_agg(id ORDER BY id) FROM i`)
	upd := liveQuery[[]int64](h, h.db, `WITH u AS (UPDATE storage.objects SET path = path || '.changed' WHERE id = (`+free+` LIMIT 1) RETURNING id)
		SELECT array_agg(id) FROM u`)
	if len(del) != 2 || len(ins) != 2 || len(upd) != 1 {
		h.t.Fatalf("fixture: deleted %v inserted %v updated %v", del, ins, upd)
	}
	return idKeys(ins), idKeys(del), idKeys(upd)
}

// stagedFixture captures a snapshot, then changes storage.objects live
// (changeObjects), and queues a destructive restore of the table with its
// staged review.
func stagedFixture(h *harness) (tickets.Ticket, []string, []string, []string) {
	h.t.Helper()
	snap := h.capture()
	inserted, deleted, updated := changeObjects(h)
	scope := tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"storage.objects"}}
	tk := h.ticket(snap, scope, tickets.ModeDestructive, tickets.Options{StagedReview: true})
	return tk, inserted, deleted, updated
}

// stagedPause is stagedFixture's restore paused for its review, with live's
// storage.objects digest from before the pause.
type stagedPause struct {
	tk                         tickets.Ticket
	inserted, deleted, updated []string
	liveBefore                 string
	rv                         tickets.StagedReview
}

// pauseStaged makes stagedFixture's ticket (River must be running) and waits
// for its review.
func (h *harness) pauseStaged() stagedPause {
	h.t.Helper()
	var s stagedPause
	s.tk, s.inserted, s.deleted, s.updated = stagedFixture(h)
	s.liveBefore = h.tableDigest("storage.objects")
	s.rv = waitReview(h, s.tk.ID)
	return s
}

// liveUnchanged reports whether live's storage.objects is as before the pause.
func (s stagedPause) liveUnchanged(h *harness) bool {
	h.t.Helper()
	return h.tableDigest("storage.objects") == s.liveBefore
}

// confirmReview confirms ticket id's staged review as actor, with the
// review's digest and the typed ref.
func (h *harness) confirmReview(actor tickets.Actor, id int64, digest, ref string) error {
	_, err := tickets.StagedReviewConfirm(context.Background(), h.pool, actor, id, tickets.ReviewDecision{Digest: digest, ConfirmRef: ref})
	return err
}

// abandonReview abandons ticket id's staged review as the operator.
func (h *harness) abandonReview(id int64, digest string) error {
	_, err := tickets.StagedReviewAbandon(context.Background(), h.pool, h.operator, id, tickets.ReviewDecision{Digest: digest})
	return err
}

// noSecondApply fails the test if the ended ticket's run applied a dump (a
// confirmed run goes on from the reviewed copy).
func noSecondApply(t *testing.T, tk tickets.Ticket, what string) {
	t.Helper()
	for _, s := range tk.Result.Steps {
		if s.Step == "apply" {
			t.Errorf("%s: %+v", what, tk.Result.Steps)
		}
	}
}

// deletedBack fails the test unless each deleted storage.objects key is live again.
func deletedBack(h *harness, deleted []string) {
	h.t.Helper()
	for _, k := range deleted {
		id := strings.TrimPrefix(k, "id=")
		if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM storage.objects WHERE id = `+id); n != 1 {
			h.t.Errorf("deleted row %s did not come back", id)
		}
	}
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
	h := newWorkingHarness(t)
	s := h.pauseStaged()
	tk, rv := s.tk, s.rv
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
	eq("only live (lost by the cut-over)", r.OnlyLive, s.inserted)
	eq("only in the snapshot (brought back)", r.OnlySnapshot, s.deleted)
	eq("differ", r.Differ, s.updated)
	if r.Table != "storage.objects" || r.WholeRow || len(r.Schema) != 0 {
		t.Errorf("result: %+v", r)
	}
	if !s.liveUnchanged(h) {
		t.Fatal("live changed while the restore awaits its review")
	}
	if !h.databaseExists(rv.StagingDatabase) {
		t.Fatalf("the reviewed copy %s is gone", rv.StagingDatabase)
	}
	// Refused: the preparer, a wrong ref, a stale digest.
	if err := h.confirmReview(h.operator, tk.ID, rv.Digest(), h.ref); !errors.As(err, new(*tickets.PermissionError)) {
		t.Errorf("operator confirms: %v", err)
	}
	if err := h.confirmReview(h.approver, tk.ID, rv.Digest(), "nope"); !errors.As(err, new(*tickets.ValidationError)) {
		t.Errorf("wrong ref: %v", err)
	}
	stale := rv
	stale.CreatedAt = stale.CreatedAt.Add(-time.Hour) // a review of another attempt
	if err := h.confirmReview(h.approver, tk.ID, stale.Digest(), h.ref); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("stale confirm: %v", err)
	}
	if err := h.confirmReview(h.approver, tk.ID, rv.Digest(), h.ref); err != nil {
		t.Fatal(err)
	}
	// Confirmed twice: the second one finds the review decided.
	if err := h.confirmReview(h.approver, tk.ID, rv.Digest(), h.ref); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("confirm twice: %v", err)
	}
	tk = h.waitFinal(tk.ID)
	wantState(t, tk, tickets.StateSucceeded, "after confirmation")
	noSecondApply(t, tk, "the confirmed run applied the dump again")
	ids := liveQuery[[]int64](h, h.db, `SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM storage.objects WHERE path LIKE 'new/%' OR path LIKE '%.changed'`)
	if len(ids) != 0 {
		t.Errorf("rows written since the snapshot are still live: %v", ids)
	}
	deletedBack(h, s.deleted)
}

// TestStagedReviewAbandonLeavesLiveUntouched: abandoning drops the copy and
// ends the ticket; the live table is exactly as it was.
func TestStagedReviewAbandonLeavesLiveUntouched(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	s := h.pauseStaged()
	if err := h.abandonReview(s.tk.ID, "stale"); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("stale abandon: %v", err)
	}
	if err := h.abandonReview(s.tk.ID, s.rv.Digest()); err != nil {
		t.Fatal(err)
	}
	tk := h.waitFinal(s.tk.ID)
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "abandoned") || !strings.Contains(tk.Result.Message, "not changed") {
		t.Fatalf("after abandon: %s %q", tk.State, tk.Result.Message)
	}
	if !s.liveUnchanged(h) {
		t.Error("abandon changed live")
	}
	if h.databaseExists(s.rv.StagingDatabase) {
		t.Errorf("the copy %s was not dropped", s.rv.StagingDatabase)
	}
	// Confirming now is refused: the review is decided.
	if err := h.confirmReview(h.approver, tk.ID, s.rv.Digest(), h.ref); err == nil {
		t.Error("confirmed an abandoned review")
	}
}

// TestStagedReviewExpires: an unconfirmed pause past its time is expired by
// the paused job itself when it next looks: the copy is dropped, live kept.
func TestStagedReviewExpires(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	ctx := context.Background()
	s := h.pauseStaged()
	// Its time is up; wake the job as a decision would.
	if _, err := h.pool.Exec(ctx, `UPDATE ticket_staged_reviews SET expires_at = now() WHERE ticket_id = $1`, s.tk.ID); err != nil {
		t.Fatal(err)
	}
	h.wake(s.rv.JobID)
	if err := h.confirmReview(h.approver, s.tk.ID, s.rv.Digest(), h.ref); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("confirm after expiry: %v", err)
	}
	tk := h.waitFinal(s.tk.ID)
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "expired") {
		t.Fatalf("after expiry: %s %q", tk.State, tk.Result.Message)
	}
	if !s.liveUnchanged(h) || h.databaseExists(s.rv.StagingDatabase) {
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
	h := newWorkingHarness(t)
	ctx := context.Background()
	s := h.pauseStaged()
	admin, err := h.cl.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE "+pgxIdent(s.rv.StagingDatabase)+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	if err := h.confirmReview(h.approver, s.tk.ID, s.rv.Digest(), h.ref); err != nil {
		t.Fatal(err)
	}
	tk := h.waitFinal(s.tk.ID)
	wantState(t, tk, tickets.StateFailed, "confirmed without its copy")
	if !s.liveUnchanged(h) {
		t.Error("live changed although the reviewed copy was gone")
	}
}

func pgxIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// TestStagedReviewCancelledWhilePaused: cancelling the ticket during the
// pause is allowed (it is not the cut-over); the paused job, when it next
// looks, drops the copy; live is untouched.
func TestStagedReviewCancelledWhilePaused(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	s := h.pauseStaged()
	if _, err := tickets.Cancel(context.Background(), h.pool, h.operator, s.tk.ID, "customer changed their mind"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for h.databaseExists(s.rv.StagingDatabase) {
		if time.Now().After(deadline) {
			t.Fatalf("the copy %s of the cancelled restore is still there", s.rv.StagingDatabase)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !s.liveUnchanged(h) {
		t.Error("cancel changed live")
	}
	if err := h.confirmReview(h.approver, s.tk.ID, s.rv.Digest(), h.ref); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("confirm after cancel: %v", err)
	}
}
