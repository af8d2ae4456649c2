package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/tickets"
)

// pausedTicket is a portal with an approved destructive tables restore whose job paused
// for its staged review (recorded as the worker records it).
func pausedTicket(t *testing.T) (*portal, int64, tickets.StagedReview) {
	t.Helper()
	p := newPortal(t)
	id, rv := p.pausedReview(t, "destructive", compare.Result{Table: "public.orders", Key: []string{"id"}, Same: 90,
		OnlyLive: compare.Diff{Count: 2, Samples: []string{"id=1001", "id=1002"}}, OnlySnapshot: compare.Diff{Count: 1, Samples: []string{"id=5"}},
		Differ: compare.Diff{Count: 1, Samples: []string{"id=10"}}, Schema: []string{"column extra (integer): only live"}})
	return p, id, rv
}

var reviewDigestField = regexp.MustCompile(`name="review_digest" value="([0-9a-f]+)"`)

// TestStagedReviewPageAndForms: the paused ticket's page shows each count
// with its sample keys and the schema difference; a viewer sees no forms;
// the preparer may not confirm; a stale confirm form is refused with 409 and
// changes nothing; the approver's confirmation with the ref typed is
// recorded.
func TestStagedReviewPageAndForms(t *testing.T) {
	t.Parallel()
	p, id, rv := pausedTicket(t)
	path := fmt.Sprintf("/tickets/%d", id)

	viewer := p.login(t, "viewer@example.com")
	_, body := viewer.get(path)
	if missing := lacking(body, `id="review-tables"`, `<td data-col="only-live">2`, "<code>id=1001</code>", "<code>id=5</code>",
		"<code>id=10</code>", "column extra (integer): only live", "awaiting the cut-over confirmation"); len(missing) > 0 {
		t.Errorf("page lacks %q", missing)
	}
	if strings.Contains(body, `id="review-confirm-form"`) || strings.Contains(body, `id="review-abandon-form"`) {
		t.Error("a viewer is offered the review forms")
	}
	op := p.login(t, "operator@example.com")
	_, body = op.get(path)
	if strings.Contains(body, `id="review-confirm-form"`) || !strings.Contains(body, `id="review-abandon-form"`) {
		t.Error("the operator (who prepared) must see abandon, not confirm")
	}
	if res, _ := op.confirmReview(path, rv.Digest(), "proj-alpha"); res.StatusCode != http.StatusForbidden {
		t.Errorf("operator confirms: %d", res.StatusCode)
	}

	ap := p.login(t, "approver2@example.com")
	_, body = ap.get(path)
	m := reviewDigestField.FindStringSubmatch(body)
	if m == nil || m[1] != rv.Digest() {
		t.Fatalf("confirm form digest: %v", m)
	}
	res, body := ap.confirmReview(path, strings.Repeat("0", 64), "proj-alpha")
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "staged review changed") {
		t.Errorf("stale confirm: %d", res.StatusCode)
	}
	if res, _ := ap.confirmReview(path, m[1], "proj-bravo"); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("wrong ref: %d", res.StatusCode)
	}
	if got, _ := tickets.StagedReviewGet(context.Background(), p.pool, id); got.State != tickets.ReviewAwaiting {
		t.Fatalf("refused forms changed the review: %s", got.State)
	}
	res, _ = ap.confirmReview(path, m[1], "proj-alpha")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d", res.StatusCode)
	}
	got, err := tickets.StagedReviewGet(context.Background(), p.pool, id)
	if err != nil || got.State != tickets.ReviewConfirmed || got.DecidedByName != "approver2@example.com" {
		t.Errorf("after confirm: %+v %v", got, err)
	}
	// The job that paused is woken (made due now).
	var due bool
	if err := p.pool.QueryRow(context.Background(), `SELECT scheduled_at <= now() FROM river_job WHERE id = $1`, rv.JobID).Scan(&due); err != nil || !due {
		t.Errorf("job not due: %t %v", due, err)
	}
	b, _ := json.Marshal(got.Tables)
	if !strings.Contains(string(b), `"id=1001"`) {
		t.Errorf("stored comparison: %s", b)
	}
}

// TestStagedReviewAPI: a viewer reads the review and its digest; a stale
// digest is refused with 409; the operator abandons with the current one;
// a ticket that never paused has no review (404).
func TestStagedReviewAPI(t *testing.T) {
	t.Parallel()
	p, id, rv := pausedTicket(t)
	path := fmt.Sprintf("/api/v1/tickets/%d/review", id)
	if code, _ := p.api(t, "", "GET", path, nil); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", code)
	}
	code, got := p.api(t, p.token(t, auth.RoleViewer), "GET", path, nil)
	if code != http.StatusOK || got["review_digest"] != rv.Digest() || got["state"] != "awaiting_cutover" {
		t.Fatalf("viewer get: %d %v", code, got)
	}
	opTok := p.token(t, auth.RoleOperator)
	if code, got := p.api(t, opTok, "POST", path+"/confirm", map[string]any{"review_digest": rv.Digest(), "confirm_ref": "proj-alpha"}); code != http.StatusForbidden {
		t.Errorf("operator confirms: %d %v", code, got)
	}
	if code, got := p.api(t, opTok, "POST", path+"/abandon", map[string]any{"review_digest": "0"}); code != http.StatusConflict {
		t.Errorf("stale abandon: %d %v", code, got)
	}
	if code, got := p.api(t, opTok, "POST", path+"/abandon", map[string]any{"review_digest": rv.Digest()}); code != http.StatusOK || got["state"] != "running" {
		t.Errorf("abandon: %d %v", code, got)
	}
	if got, _ := tickets.StagedReviewGet(context.Background(), p.pool, id); got.State != tickets.ReviewAbandoned {
		t.Errorf("after abandon: %s", got.State)
	}
	if code, _ := p.api(t, p.token(t, auth.RoleViewer), "GET", fmt.Sprintf("/api/v1/tickets/%d/review", id+1000), nil); code != http.StatusNotFound {
		t.Errorf("no review: %d", code)
	}
}
