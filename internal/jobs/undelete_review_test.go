package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// reviewFixture captures a snapshot, then live deletes the four lowest
// orders, changes the next two and writes one: the undelete's dry run must
// name exactly those keys.
func reviewFixture(h *harness) (snap snapshots.Snapshot, gone, changed []int64, total int64) {
	h.t.Helper()
	total = liveQuery[int64](h, h.db, `SELECT count(*) FROM public.orders`)
	snap = h.capture()
	ids := liveInts(h, `SELECT id FROM public.orders ORDER BY id LIMIT 6`)
	gone, changed = ids[:4], ids[4:]
	h.exec(`DELETE FROM public.orders WHERE id IN (` + joinInts(gone) + `)`)
	h.exec(`UPDATE public.orders SET tags = ARRAY['changed live'] WHERE id IN (` + joinInts(changed) + `)`)
	h.exec(`INSERT INTO public.orders (user_id, status, total) SELECT min(id), 'paid', 1 FROM auth.users`)
	return snap, gone, changed, total
}

func idKeys(ids []int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "id=" + itoa(id)
	}
	return out
}

// logCount counts the messages logged through it (and passes them on).
type logCount struct {
	next slog.Handler
	mu   *sync.Mutex
	n    map[string]int
}

func newLogCount(next slog.Handler) logCount {
	return logCount{next: next, mu: new(sync.Mutex), n: map[string]int{}}
}

func (l logCount) Enabled(ctx context.Context, lv slog.Level) bool { return l.next.Enabled(ctx, lv) }
func (l logCount) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	l.n[r.Message]++
	l.mu.Unlock()
	return l.next.Handle(ctx, r)
}
func (l logCount) WithAttrs(a []slog.Attr) slog.Handler {
	return logCount{next: l.next.WithAttrs(a), mu: l.mu, n: l.n}
}
func (l logCount) WithGroup(g string) slog.Handler {
	return logCount{next: l.next.WithGroup(g), mu: l.mu, n: l.n}
}
func (l logCount) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}

// wake makes a snoozing job run now, as a decision does.
func (h *harness) wake(jobID int64) {
	h.t.Helper()
	if _, err := h.pool.Exec(context.Background(), `UPDATE river_job SET scheduled_at = now() WHERE id = $1 AND state = 'scheduled'`, jobID); err != nil {
		h.t.Fatal(err)
	}
}

// TestUndeleteStagedReviewExactDryRunThenMerge: an undelete with staged
// review restores the snapshot into its copy, computes the exact dry run
// against live (the 4 deleted rows to insert, the 2 changed ones as
// conflicts, the rest identical) without writing live, and pauses; waking
// while paused logs no "ended abruptly" warning; the preparer, a wrong ref
// and a digest of other counts are refused; the confirmed merge inserts
// exactly the reviewed rows from the copy (no second restore) and says its
// counts are the reviewed ones.
func TestUndeleteStagedReviewExactDryRunThenMerge(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	logs := newLogCount(testenv.Logger(t).Handler())
	h.deps.Log = slog.New(logs)
	h.startRiver()
	snap, gone, changed, total := reviewFixture(h)
	liveBefore := h.tableDigest("public.orders")
	tk := h.ticket(snap, ordersScope, tickets.ModeUndelete, tickets.Options{StagedReview: true})
	rv := waitReview(h, tk.ID)
	if rv.State != tickets.ReviewAwaiting || len(rv.Tables) != 1 {
		t.Fatalf("review: %+v", rv)
	}
	r := rv.Tables[0]
	if r.Table != "public.orders" || r.OnlySnapshot.Count != 4 || !slices.Equal(r.OnlySnapshot.Samples, idKeys(gone)) ||
		r.Differ.Count != 2 || !slices.Equal(r.Differ.Samples, idKeys(changed)) || r.Same != total-6 || r.Limited != "" {
		t.Fatalf("dry run: %+v", r)
	}
	if h.tableDigest("public.orders") != liveBefore || !h.databaseExists(rv.StagingDatabase) {
		t.Fatal("live changed during the dry run, or the copy is gone")
	}
	// Woken while paused (twice): a deliberate pause, no warning.
	for i := 1; i <= 2; i++ {
		h.wake(rv.JobID)
		deadline := time.Now().Add(time.Minute)
		for logs.count("a restore paused for its staged review looks at the review") < i {
			if time.Now().After(deadline) {
				t.Fatalf("wake %d: the paused job did not look at its review", i)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if n := logs.count("resuming a restore whose previous attempt ended abruptly"); n != 0 {
		t.Errorf("a paused review logged the abrupt-end warning %d times", n)
	}
	if h.tableDigest("public.orders") != liveBefore {
		t.Fatal("live changed while paused")
	}
	// Refused: the preparer (the other refusals: the next test).
	if err := h.confirmReview(h.operator, tk.ID, rv.Digest(), h.ref); !errors.As(err, new(*tickets.PermissionError)) {
		t.Errorf("operator confirms: %v", err)
	}
	if err := h.confirmReview(h.approver, tk.ID, rv.Digest(), h.ref); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateSucceeded || len(tk.Result.Undelete) != 1 {
		t.Fatalf("after confirmation: %s %+v", tk.State, tk.Result)
	}
	u := tk.Result.Undelete[0]
	if u.Inserted != 4 || u.Conflicts != 2 || u.Unchanged != total-6 || !strings.Contains(tk.Result.Message, "The merge's counts are those of the staged review.") {
		t.Fatalf("merge: %+v %q", u, tk.Result.Message)
	}
	noSecondApply(t, tk, "the confirmed run restored the snapshot again")
	if got := liveInts(h, `SELECT id FROM public.orders WHERE id = ANY($1) ORDER BY id`, gone); !slices.Equal(got, gone) {
		t.Errorf("rows back: %v, want %v", got, gone)
	}
	if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM public.orders WHERE tags = ARRAY['changed live']`); n != 2 {
		t.Errorf("conflicts overwritten: %d keep their live content", n)
	}
	if h.databaseExists(rv.StagingDatabase) {
		t.Error("the copy was left behind")
	}
}

// TestUndeleteStagedReviewRefusesStaleAndShowsMovedLive: the review honours
// listed keys on both sides (2 to insert, 1 conflict, 1 identical, no live row
// outside them; the other deleted rows
// are not counted and not merged); a wrong ref and a digest of other counts
// are refused; live moves after the review (an identical listed row is
// deleted), so the merge inserts 3 and the result shows both counts.
func TestUndeleteStagedReviewRefusesStaleAndShowsMovedLive(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap, gone, changed, _ := reviewFixture(h)
	same := liveInts(h, `SELECT id FROM public.orders WHERE id > $1 ORDER BY id LIMIT 1`, changed[1])[0]
	keys := []string{itoa(gone[0]), itoa(gone[1]), itoa(changed[0]), itoa(same)}
	tk := h.ticket(snap, ordersScope, tickets.ModeUndelete, tickets.Options{StagedReview: true,
		Undelete: tickets.UndeleteLimit{Keys: keys}})
	rv := waitReview(h, tk.ID)
	r := rv.Tables[0]
	if r.OnlySnapshot.Count != 2 || !slices.Equal(r.OnlySnapshot.Samples, idKeys(gone[:2])) || r.Differ.Count != 1 ||
		r.Same != 1 || r.OnlyLive.Count != 0 || !strings.Contains(r.Limited, "4 listed key") {
		t.Fatalf("dry run limited to the keys: %+v", r)
	}
	if err := h.confirmReview(h.approver, tk.ID, rv.Digest(), "other-ref"); !errors.As(err, new(*tickets.ValidationError)) {
		t.Errorf("wrong ref: %v", err)
	}
	forged := rv
	forged.Tables = slices.Clone(rv.Tables)
	forged.Tables[0].Differ.Count = 0 // the page of a review with other counts
	if err := h.confirmReview(h.approver, tk.ID, forged.Digest(), h.ref); !errors.Is(err, tickets.ErrReviewChanged) {
		t.Errorf("digest of other counts: %v", err)
	}
	h.exec(`DELETE FROM public.orders WHERE id = ` + itoa(same)) // live moves after the review
	if err := h.confirmReview(h.approver, tk.ID, rv.Digest(), h.ref); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	wantState(t, tk, tickets.StateSucceeded, "merge")
	u := tk.Result.Undelete[0]
	if u.Inserted != 3 || u.Conflicts != 1 || u.Unchanged != 0 {
		t.Fatalf("merge counts: %+v", u)
	}
	want := "public.orders: reviewed 2 to insert, 1 conflicts, 1 identical; merged 3 inserted, 1 conflicts, 0 identical"
	if !strings.Contains(tk.Result.Message, want) {
		t.Fatalf("message %q lacks %q", tk.Result.Message, want)
	}
	if got := liveInts(h, `SELECT id FROM public.orders WHERE id = ANY($1) ORDER BY id`, gone); !slices.Equal(got, gone[:2]) {
		t.Errorf("rows back: %v, want only the listed %v", got, gone[:2])
	}
}

// TestUndeleteStagedReviewAbandonLeavesLiveUntouched: a filtered undelete's
// review counts only the matching rows; abandoning it drops the copy and
// fails the ticket; live is byte-identical.
func TestUndeleteStagedReviewAbandonLeavesLiveUntouched(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap, gone, changed, _ := reviewFixture(h)
	liveBefore := h.tableDigest("public.orders")
	tk := h.ticket(snap, ordersScope, tickets.ModeUndelete, tickets.Options{StagedReview: true,
		Undelete: tickets.UndeleteLimit{Filter: tickets.UndeleteFilter{Column: "id", Op: "le", Value: itoa(changed[0])}}})
	rv := waitReview(h, tk.ID)
	if r := rv.Tables[0]; r.OnlySnapshot.Count != 4 || !slices.Equal(r.OnlySnapshot.Samples, idKeys(gone)) || r.Differ.Count != 1 || r.Same != 0 {
		t.Fatalf("filtered dry run: %+v", r)
	}
	if err := h.abandonReview(tk.ID, rv.Digest()); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "abandoned") {
		t.Fatalf("after abandon: %s %q", tk.State, tk.Result.Message)
	}
	if h.tableDigest("public.orders") != liveBefore || h.databaseExists(rv.StagingDatabase) {
		t.Fatal("abandon changed live or kept the copy")
	}
}

// TestUndeleteStagedReviewForcedRowSecurityFailsClosed: live's table has
// FORCE ROW LEVEL SECURITY, so its owner would see only the rows a policy
// allows: the dry run refuses, the ticket says why, the copy is dropped and
// live is unchanged.
func TestUndeleteStagedReviewForcedRowSecurityFailsClosed(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap, _, _, _ := reviewFixture(h)
	h.exec(`ALTER TABLE public.orders FORCE ROW LEVEL SECURITY`)
	liveBefore := h.tableDigest("public.orders")
	tk := h.restore(snap, ordersScope, tickets.ModeUndelete, tickets.Options{StagedReview: true})
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "FORCE ROW LEVEL SECURITY") ||
		!strings.Contains(tk.Result.Message, "public.orders") {
		t.Fatalf("forced row security: %s %q", tk.State, tk.Result.Message)
	}
	if _, err := tickets.StagedReviewGet(context.Background(), h.pool, tk.ID); !errors.Is(err, tickets.ErrNoStagedReview) {
		t.Errorf("a review was recorded from filtered rows: %v", err)
	}
	if h.tableDigest("public.orders") != liveBefore || h.databaseExists(h.db+"_stg_t"+itoa(tk.ID)) {
		t.Fatal("live changed or the copy was kept")
	}
}

// TestUndeleteStagedReviewConfirmedSurvivesLostConnection: the confirmed
// merge's live sessions are terminated (a lost connection) as it starts; the
// attempt is retried after the Postgres fault and goes on from the kept
// copy, inserting exactly the reviewed rows once, instead of failing for
// want of the copy.
func TestUndeleteStagedReviewConfirmedSurvivesLostConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// The confirmed attempt, about to merge (its second verified step): cut
	// live's sessions.
	deps, verified := h.cutLiveAtNth(jobs.StepVerified, 2)
	h.startRiverWith(deps)
	snap, gone, _, _ := reviewFixture(h)
	tk := h.ticket(snap, ordersScope, tickets.ModeUndelete, tickets.Options{StagedReview: true})
	rv := waitReview(h, tk.ID)
	if err := h.confirmReview(h.approver, tk.ID, rv.Digest(), h.ref); err != nil {
		t.Fatal(err)
	}
	tk = h.waitFinal(tk.ID)
	if tk.State != tickets.StateSucceeded || tk.Result.Undelete[0].Inserted != 4 {
		t.Fatalf("after the lost connection: %s %q", tk.State, tk.Result.Message)
	}
	if n := verified(tk.ID); n < 3 {
		t.Fatalf("the confirmed attempt was not retried (verified %d times)", n)
	}
	if _, retries, _ := h.jobMeta(rv.JobID); retries == "" {
		t.Error("no Postgres fault retry recorded")
	}
	if got := liveInts(h, `SELECT id FROM public.orders WHERE id = ANY($1) ORDER BY id`, gone); !slices.Equal(got, gone) {
		t.Errorf("rows back: %v, want %v", got, gone)
	}
	if h.databaseExists(rv.StagingDatabase) {
		t.Error("the copy was left behind")
	}
}
