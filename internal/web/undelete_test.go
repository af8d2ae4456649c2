package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestUndeleteTriageFormAndStaleApproval: the prepare form saves an
// undelete limited by a filter whose column and value hold SQL (kept as
// text, shown escaped); an operator the form does not offer is refused with
// the field's message and changes nothing; an approver's page loaded before
// the filter changed cannot approve the changed plan (409, the change named).
func TestUndeleteTriageFormAndStaleApproval(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	col, val := `status"; DROP TABLE public.orders; --`, `x' OR '1'='1`
	form := url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"tables"}, "tables": {"public.orders"}, "mode": {"undelete"},
		"undelete_filter_column": {col}, "undelete_filter_op": {"eq"}, "undelete_filter_value": {val}}
	op.prepareSubmit(loc, form)
	tk := p.ticketOf(t, loc)
	if tk.Mode != tickets.ModeUndelete || tk.Options.Undelete.Filter != (tickets.UndeleteFilter{Column: col, Op: "eq", Value: val}) || tk.Options.Undelete.Table != "public.orders" {
		t.Fatalf("saved %s %+v", tk.Mode, tk.Options.Undelete)
	}
	ap := p.login(t, "approver@example.com")
	_, page := ap.get(loc)
	if !strings.Contains(page, "No live row is updated or deleted") || !strings.Contains(page, html.EscapeString(val)) {
		t.Fatal("the approver's page does not show the undelete plan and its filter")
	}
	seen := digestOf(t, page)

	op.act(loc, "withdraw")
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("undelete_filter_op", "= '' OR true; --")
	if res, body := op.post(loc+"/prepare", bad); res.StatusCode == http.StatusSeeOther || !strings.Contains(body, "is not one of the offered operators") {
		t.Fatalf("prepare with an operator not offered: %d", res.StatusCode)
	}
	if got := p.ticketOf(t, loc); got.Options.Undelete.Filter.Op != "eq" {
		t.Fatalf("a refused form changed the plan: %+v", got.Options.Undelete)
	}
	form.Set("undelete_filter_value", "pending")
	op.prepareSubmit(loc, form)
	res, body := ap.approve(loc, seen)
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "undelete limited to") {
		t.Fatalf("stale approval of the undelete: %d", res.StatusCode)
	}
	if n := p.jobCount(t, "restore"); n != 0 {
		t.Fatalf("the stale approval queued %d restore(s)", n)
	}
	if res, _ := ap.approve(loc, digestOf(t, body)); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve the current undelete: %d", res.StatusCode)
	}
}

// pausedUndelete is a portal with an approved undelete with staged review whose job paused
// with its exact dry run (recorded as the worker records it); a sample key
// holds markup.
func pausedUndelete(t *testing.T) (*portal, int64, tickets.StagedReview) {
	t.Helper()
	p := newPortal(t)
	id, rv := p.pausedReview(t, "undelete", compare.Result{Table: "public.orders", Key: []string{"id"}, Same: 9_990, Limited: "rows where status = \"gone\"",
		OnlySnapshot: compare.Diff{Count: 1_000, Samples: []string{"id=5", "id=<b>6</b>"}}, Differ: compare.Diff{Count: 50, Samples: []string{"id=10"}}})
	return p, id, rv
}

// TestUndeleteReviewPageShowsTheDryRunThenBothCounts: the paused undelete's
// page shows the exact dry run (rows to insert, conflicts, identical, the
// limit, sample keys escaped) and a "Confirm the merge" form to another
// approver; a stale form is refused (409) and changes nothing; once the merge
// ran with other counts (live moved) the page shows both.
func TestUndeleteReviewPageShowsTheDryRunThenBothCounts(t *testing.T) {
	t.Parallel()
	p, id, rv := pausedUndelete(t)
	path := fmt.Sprintf("/tickets/%d", id)
	ap := p.login(t, "approver2@example.com")
	_, body := ap.get(path)
	if missing := lacking(body, `id="review-undelete-tables"`, `<td data-col="insert">1,000`, `<td data-col="conflicts">50`,
		`<td data-col="identical">9,990`, "limited to rows where status = &#34;gone&#34;", "<code>id=&lt;b&gt;6&lt;/b&gt;</code>",
		"Confirm the merge", "nothing was written to live"); len(missing) > 0 {
		t.Errorf("page lacks %q", missing)
	}
	if strings.Contains(body, `id="review-tables"`) || strings.Contains(body, "<b>6</b>") {
		t.Error("the undelete's review shows the cut-over's table, or unescaped markup")
	}
	m := reviewDigestField.FindStringSubmatch(body)
	if m == nil || m[1] != rv.Digest() {
		t.Fatalf("confirm form digest: %v", m)
	}
	forged := rv
	forged.Tables = []compare.Result{rv.Tables[0]}
	forged.Tables[0].Differ.Count = 0
	res, _ := ap.confirmReview(path, forged.Digest(), "proj-alpha")
	if res.StatusCode != http.StatusConflict {
		t.Errorf("confirm of other counts: %d", res.StatusCode)
	}
	if got, _ := tickets.StagedReviewGet(context.Background(), p.pool, id); got.State != tickets.ReviewAwaiting {
		t.Fatalf("a refused form changed the review: %s", got.State)
	}
	res, _ = ap.confirmReview(path, m[1], "proj-alpha")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d", res.StatusCode)
	}
	// The merge ran; live had moved: one more row inserted, one fewer identical.
	if _, err := tickets.Finish(context.Background(), p.pool, id, tickets.Result{OK: true, Message: "merged",
		Undelete: []tickets.UndeleteTable{{Table: "public.orders", KeyColumns: []string{"id"}, Candidates: 11_040, Inserted: 1_001, Conflicts: 50, Unchanged: 9_989}}}); err != nil {
		t.Fatal(err)
	}
	_, body = ap.get(path)
	if !strings.Contains(body, "At the merge (live changed since the review): 1,001 inserted, 50 conflicts, 9,989 identical") {
		t.Error("the page does not show the merge's counts beside the reviewed ones")
	}
}

// TestTriageFullStagedReviewIsOffByDefault: a new ticket's triage form offers
// the tables/undelete review checked and the full restore's review
// unchecked; a full destructive restore saved from the form without ticking
// it has no full review, one ticked has it (and the approval page says so).
func TestTriageFullStagedReviewIsOffByDefault(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	_, page := op.get(loc)
	if !regexp.MustCompile(`name="staged_review" value="1" checked`).MatchString(page) ||
		regexp.MustCompile(`name="staged_review_full" value="1" checked`).MatchString(page) || !strings.Contains(page, `name="staged_review_full"`) {
		t.Fatal("the new ticket's form does not offer the tables review checked and the full review unchecked")
	}
	form := url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"full"}, "mode": {"destructive"}, "staged_review": {"1"}}
	op.prepareSubmit(loc, form)
	if tk := p.ticketOf(t, loc); tk.Options.StagedReviewFull {
		t.Fatalf("full review on without the box: %+v", tk.Options)
	}
	op.act(loc, "withdraw")
	form.Set("staged_review_full", "1")
	op.prepareSubmit(loc, form)
	if tk := p.ticketOf(t, loc); !tk.Options.StagedReviewFull {
		t.Fatalf("full review off with the box ticked: %+v", tk.Options)
	}
	ap := p.login(t, "approver@example.com")
	if _, page := ap.get(loc); !strings.Contains(page, "restored copy of the whole database is verified the restore pauses") {
		t.Error("the approval page does not say the full restore pauses for review")
	}
}
