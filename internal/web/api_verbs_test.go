package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// raw calls the API with a literal body (nil: none at all) and returns the
// status, the headers and the decoded answer.
func (p *portal) raw(t *testing.T, token, method, path string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, p.srv.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, res.Header, out
}

// TestAPITriageVerbs drives a ticket through every triage verb of the API:
// prepare (refused without a snapshot, with a hostile table name, and while
// awaiting approval), submit and withdraw with no body at all, approve and
// start as separate verbs, notes, assign, the thread, ask for info (which
// queues the requester's mail) and reject; a viewer is refused.
func TestAPITriageVerbs(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	op, ap, viewer := p.token(t, auth.RoleOperator), p.token(t, auth.RoleApprover), p.token(t, auth.RoleViewer)
	code, got := p.api(t, op, "POST", "/api/v1/tickets", map[string]any{"project_ref": "proj-alpha", "mode": "new_project",
		"requester_email": "cust@example.org"})
	if code != http.StatusCreated || got["preparation_error"] == nil {
		t.Fatalf("create: %d %v", code, got)
	}
	path := fmt.Sprintf("/api/v1/tickets/%v", got["id"])

	if code, _, got := p.raw(t, op, "POST", path+"/prepare", nil); code != http.StatusUnprocessableEntity || got["field"] != "snapshot_id" {
		t.Fatalf("prepare without a snapshot: %d %v", code, got)
	}
	if code, got := p.api(t, op, "POST", path+"/prepare", map[string]any{"snapshot_id": p.snaps[2].ID, "tables": []string{`public.orders"; DROP TABLE x; --`}}); code != http.StatusUnprocessableEntity || got["field"] != "scope" {
		t.Fatalf("prepare with a hostile table: %d %v", code, got)
	}
	if code, got := p.api(t, op, "POST", path+"/prepare", map[string]any{"snapshot_id": p.snaps[2].ID, "wat": 1}); code != http.StatusBadRequest {
		t.Fatalf("prepare with an unknown field: %d %v", code, got)
	}
	if code, _ := p.api(t, viewer, "POST", path+"/prepare", map[string]any{"snapshot_id": p.snaps[2].ID}); code != http.StatusForbidden {
		t.Fatalf("viewer prepares: %d", code)
	}
	code, got = p.api(t, op, "POST", path+"/prepare", map[string]any{"snapshot_id": p.snaps[2].ID, "tables": []string{"public.orders"}, "mode": "destructive"})
	if code != http.StatusOK || got["state"] != "ready" || fmt.Sprint(got["scope"]) != "map[kind:tables tables:[public.orders]]" {
		t.Fatalf("prepare: %d %v", code, got)
	}
	if code, _, got := p.raw(t, op, "POST", path+"/submit", nil); code != http.StatusOK || got["state"] != "awaiting_approval" {
		t.Fatalf("submit with no body: %d %v", code, got)
	}
	// A conflict of state, not a wrong value: 409, with the message and the field.
	if code, got := p.api(t, op, "POST", path+"/prepare", map[string]any{"mode": "new_project"}); code != http.StatusConflict || got["field"] != "state" ||
		!strings.Contains(fmt.Sprint(got["error"]), "approval is pending") {
		t.Fatalf("prepare while awaiting approval: %d %v", code, got)
	}
	if code, _, got := p.raw(t, op, "POST", path+"/withdraw", []byte("  ")); code != http.StatusOK || got["state"] != "ready" {
		t.Fatalf("withdraw with a blank body: %d %v", code, got)
	}
	if code, _, _ := p.raw(t, op, "POST", path+"/submit", nil); code != http.StatusOK {
		t.Fatal("submit again")
	}
	// Start is not approval: a destructive plan is started only by approving it.
	if code, _, got := p.raw(t, op, "POST", path+"/start", nil); code != http.StatusForbidden || !strings.Contains(fmt.Sprint(got["error"]), "approval") {
		t.Fatalf("start of a plan awaiting approval: %d %v", code, got)
	}
	_, got = p.api(t, ap, "GET", path, nil)
	code, hdr, got := p.raw(t, ap, "POST", path+"/approve", []byte(fmt.Sprintf(`{"confirm_ref":"proj-alpha","plan_digest":%q}`, got["plan_digest"])))
	if code != http.StatusOK || got["state"] != "queued" || hdr.Get("Deprecation") != "" {
		t.Fatalf("approve: %d %v %v", code, got, hdr)
	}
	if code, _, got := p.raw(t, op, "POST", path+"/notes", []byte(`{}`)); code != http.StatusUnprocessableEntity || got["field"] != "body" {
		t.Fatalf("empty note: %d %v", code, got)
	}
	if code, _ := p.api(t, op, "POST", path+"/notes", map[string]any{"body": "checked with the customer"}); code != http.StatusOK {
		t.Fatalf("note: %d", code)
	}
	if code, _, got := p.raw(t, op, "POST", path+"/assign", nil); code != http.StatusOK || fmt.Sprint(got["assignee"]) == "" {
		t.Fatalf("assign to self: %d %v", code, got)
	}
	code, _, got = p.raw(t, viewer, "GET", path+"/thread", nil)
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(got["entries"]), "checked with the customer") || got["mails"] == nil || got["proposals"] == nil {
		t.Fatalf("thread: %d %v", code, got)
	}

	// A new-project ticket: start is its verb; the old approve still starts
	// it, saying it is deprecated.
	charlie := tickettest.Snapshots(t, p.pool, "proj-charlie")
	for i, verb := range []string{"start", "approve"} {
		project, snap := []string{"proj-bravo", "proj-charlie"}[i], []int64{p.bravo[3].ID, charlie[3].ID}[i]
		_, got := p.api(t, op, "POST", "/api/v1/tickets", map[string]any{"project_ref": project, "mode": "new_project", "requester_email": "c@example.org"})
		tp := fmt.Sprintf("/api/v1/tickets/%v", got["id"])
		if code, got := p.api(t, op, "POST", tp+"/prepare", map[string]any{"snapshot_id": snap, "target_ref": fmt.Sprintf("bravo-copy-%d", i)}); code != http.StatusOK {
			t.Fatalf("prepare new project: %d %v", code, got)
		}
		code, hdr, got := p.raw(t, op, "POST", tp+"/"+verb, nil)
		if code != http.StatusOK || got["state"] != "queued" {
			t.Fatalf("%s new project: %d %v", verb, code, got)
		}
		if (verb == "approve") != (hdr.Get("Deprecation") == "true") {
			t.Errorf("%s: Deprecation header %q", verb, hdr.Get("Deprecation"))
		}
	}

	// Ask for info needs the question; it queues the requester's mail.
	_, got = p.api(t, op, "POST", "/api/v1/tickets", map[string]any{"project_ref": "proj-alpha", "mode": "new_project", "requester_email": "c@example.org"})
	tp := fmt.Sprintf("/api/v1/tickets/%v", got["id"])
	if code, _, got := p.raw(t, op, "POST", tp+"/ask", nil); code != http.StatusUnprocessableEntity || got["field"] != "message" {
		t.Fatalf("ask without a question: %d %v", code, got)
	}
	before := p.jobCount(t, "mail_notify")
	if code, got := p.api(t, op, "POST", tp+"/ask", map[string]any{"message": "Which tables?"}); code != http.StatusOK || got["state"] != "needs_info" {
		t.Fatalf("ask: %d %v", code, got)
	}
	if p.jobCount(t, "mail_notify") != before+1 {
		t.Fatal("asking queued no mail")
	}
	if code, _, got := p.raw(t, op, "POST", tp+"/reject", nil); code != http.StatusUnprocessableEntity || got["field"] != "message" {
		t.Fatalf("reject without a reason: %d %v", code, got)
	}
	if code, got := p.api(t, op, "POST", tp+"/reject", map[string]any{"message": "not our project"}); code != http.StatusOK || got["state"] != "rejected" {
		t.Fatalf("reject: %d %v", code, got)
	}
}

// TestAPIValidationNamesTheField: malformed parameters are 400 and the
// answer names the parameter, like the pages' errors.
func TestAPIValidationNamesTheField(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	tok := p.token(t, auth.RoleViewer)
	for _, c := range []struct{ path, field string }{
		{"/api/v1/tickets?state=bogus", "state"},
		{"/api/v1/tickets?per_page=0", "per_page"},
		{"/api/v1/tickets?per_page=201", "per_page"},
		{"/api/v1/tickets?page=0", "page"},
		{"/api/v1/projects?per_page=99999", "per_page"},
		{"/api/v1/projects?page=-3", "page"},
	} {
		code, got := p.api(t, tok, "GET", c.path, nil)
		if code != http.StatusBadRequest || got["field"] != c.field || !strings.Contains(fmt.Sprint(got["error"]), c.field) {
			t.Errorf("%s: %d %v, want 400 naming %s", c.path, code, got, c.field)
		}
	}
}

// TestAPIOwnTokens: a user makes, lists and revokes their own tokens by
// API; the secret is shown once, a revoked token stops working, and another
// user's token cannot be revoked.
func TestAPIOwnTokens(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	tok := p.token(t, auth.RoleOperator)
	if code, got := p.api(t, tok, "POST", "/api/v1/tokens", map[string]any{}); code != http.StatusUnprocessableEntity || got["field"] != "name" {
		t.Fatalf("token without a name: %d %v", code, got)
	}
	code, got := p.api(t, tok, "POST", "/api/v1/tokens", map[string]any{"name": "ci"})
	secret, _ := got["secret"].(string)
	if code != http.StatusCreated || secret == "" {
		t.Fatalf("create: %d %v", code, got)
	}
	id := got["id"]
	code, got = p.api(t, secret, "GET", "/api/v1/tokens", nil)
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(got["tokens"]), "name:ci") || strings.Contains(fmt.Sprint(got), secret) {
		t.Fatalf("list: %d %v", code, got)
	}
	other := p.token(t, auth.RoleViewer)
	if code, _, _ := p.raw(t, other, "POST", fmt.Sprintf("/api/v1/tokens/%v/revoke", id), nil); code != http.StatusNotFound {
		t.Fatalf("revoking another's token: %d", code)
	}
	if code, _, _ := p.raw(t, tok, "POST", fmt.Sprintf("/api/v1/tokens/%v/revoke", id), nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := p.api(t, secret, "GET", "/api/v1/tokens", nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked token still works: %d", code)
	}
}

// TestAPISyncNowLooksInS3: sync now of a ref the catalog does not know but
// S3 holds queues the sync; a ref S3 does not hold either is a 404 that says
// where it looked; a hostile ref is a 404 too.
func TestAPISyncNowLooksInS3(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	tok := p.token(t, auth.RoleOperator)
	key := snapshots.KeyFor(p.prefix, "proj-only-in-s3", p.snaps[0].TakenAt)
	if _, err := p.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &p.bucket, Key: &key, Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	before := p.jobCount(t, "snapshot_sync")
	code, got := p.api(t, tok, "POST", "/api/v1/projects/proj-only-in-s3/sync", nil)
	if code != http.StatusAccepted || got["found_in"] != "s3" {
		t.Fatalf("sync of a ref only S3 holds: %d %v", code, got)
	}
	if p.jobCount(t, "snapshot_sync") != before+1 {
		t.Fatal("no sync job queued")
	}
	code, got = p.api(t, tok, "POST", "/api/v1/projects/proj-nowhere/sync", nil)
	if code != http.StatusNotFound || !strings.Contains(fmt.Sprint(got["error"]), "neither the catalog nor S3") {
		t.Fatalf("sync of an unknown ref: %d %v", code, got)
	}
	if code, _ := p.api(t, tok, "POST", "/api/v1/projects/..%2Fproj-alpha/sync", nil); code != http.StatusNotFound {
		t.Fatalf("hostile ref: %d", code)
	}
	if code, got := p.api(t, tok, "POST", "/api/v1/projects/proj-alpha/sync", nil); code != http.StatusAccepted || got["found_in"] != "catalog" {
		t.Fatalf("sync of a catalog project: %d %v", code, got)
	}
}
