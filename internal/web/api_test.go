package web_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/auth"
)

func TestAPITicketLifecycle(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	opTok := p.token(t, auth.RoleOperator)
	at := time.Now().UTC().Add(-30 * time.Hour).Format(time.RFC3339)
	code, got := p.api(t, opTok, "POST", "/api/v1/tickets", map[string]any{
		"project_ref": "proj-alpha", "requested_at": at, "mode": "destructive", "requester_email": "cust@example.org",
		"scope": map[string]any{"kind": "tables", "tables": []string{"public.orders"}}, "note": "by API"})
	if code != http.StatusCreated || got["state"] != "awaiting_approval" || got["preparation_error"] != nil {
		t.Fatalf("create: %d %v", code, got)
	}
	id := int64(got["id"].(float64))
	digest, _ := got["plan_digest"].(string)
	if len(digest) != 64 {
		t.Fatalf("no plan digest: %v", got)
	}
	path := fmt.Sprintf("/api/v1/tickets/%d", id)
	// Validation errors say what to fix, as JSON.
	code, got = p.api(t, opTok, "POST", "/api/v1/tickets", map[string]any{"project_ref": "proj-alpha", "mode": "wipe", "requester_email": "c@example.org"})
	if code != http.StatusUnprocessableEntity || got["field"] != "mode" || got["error"] == "" {
		t.Fatalf("bad mode: %d %v", code, got)
	}
	code, got = p.api(t, opTok, "POST", "/api/v1/tickets", map[string]any{"project": "x"})
	if code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d %v", code, got)
	}
	// The viewer, the operator and the preparer cannot approve.
	if code, _ := p.api(t, p.token(t, auth.RoleViewer), "POST", path+"/approve", map[string]any{"confirm_ref": "proj-alpha"}); code != http.StatusForbidden {
		t.Fatalf("viewer approves: %d", code)
	}
	if code, _ := p.api(t, opTok, "POST", path+"/approve", map[string]any{"confirm_ref": "proj-alpha"}); code != http.StatusForbidden {
		t.Fatalf("operator approves: %d", code)
	}
	apTok := p.token(t, auth.RoleApprover)
	if code, got := p.api(t, apTok, "POST", path+"/approve", map[string]any{"confirm_ref": "nope", "plan_digest": digest}); code != http.StatusUnprocessableEntity || got["field"] != "confirm_ref" {
		t.Fatalf("wrong ref: %d %v", code, got)
	}
	// Without the digest of the plan read, or with another, nothing is approved.
	for _, d := range []string{"", "0123"} {
		if code, got := p.api(t, apTok, "POST", path+"/approve", map[string]any{"confirm_ref": "proj-alpha", "plan_digest": d}); code != http.StatusConflict || got["field"] != "plan_digest" || got["plan_digest"] != digest {
			t.Fatalf("approve digest %q: %d %v", d, code, got)
		}
	}
	code, got = p.api(t, apTok, "POST", path+"/approve", map[string]any{"confirm_ref": "proj-alpha", "plan_digest": digest})
	if code != http.StatusOK || got["state"] != "queued" || got["job_id"] == nil {
		t.Fatalf("approve: %d %v", code, got)
	}
	if code, got := p.api(t, apTok, "POST", path+"/approve", map[string]any{"confirm_ref": "proj-alpha", "plan_digest": digest}); code != http.StatusConflict {
		t.Fatalf("approve twice: %d %v", code, got)
	}
	if p.jobCount(t, "restore") != 1 {
		t.Fatal("restore job not inserted")
	}
	code, got = p.api(t, opTok, "GET", path, nil)
	if code != http.StatusOK || got["approved_by"] != "approver@example.com" {
		t.Fatalf("get: %d %v", code, got)
	}
	if code, _ := p.api(t, opTok, "POST", path+"/rollback", map[string]any{"confirm_ref": "proj-alpha"}); code != http.StatusForbidden {
		t.Fatalf("operator rollback: %d", code)
	}
	if code, got := p.api(t, apTok, "POST", path+"/rollback", map[string]any{"confirm_ref": "proj-alpha"}); code != http.StatusConflict {
		t.Fatalf("rollback of a queued restore: %d %v", code, got)
	}
	code, got = p.api(t, opTok, "POST", path+"/cancel", map[string]any{"reason": "customer changed mind"})
	if code != http.StatusOK || got["state"] != "cancelled" {
		t.Fatalf("cancel: %d %v", code, got)
	}
	if code, _ := p.api(t, opTok, "GET", "/api/v1/tickets/999999", nil); code != http.StatusNotFound {
		t.Fatalf("missing: %d", code)
	}
	code, got = p.api(t, opTok, "GET", "/api/v1/tickets?state=cancelled", nil)
	if code != http.StatusOK || got["total"].(float64) != 1 {
		t.Fatalf("list: %d %v", code, got)
	}
}

func TestAPINewProjectStartsWithoutApproval(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	opTok := p.token(t, auth.RoleOperator)
	code, got := p.api(t, opTok, "POST", "/api/v1/tickets", map[string]any{
		"project_ref": "proj-bravo", "requested_at": time.Now().UTC().Format(time.RFC3339), "mode": "new_project",
		"requester_email": "cust@example.org", "scope": map[string]any{"kind": "full"}})
	if code != http.StatusCreated || got["state"] != "ready" {
		t.Fatalf("create: %d %v", code, got)
	}
	code, got = p.api(t, opTok, "POST", fmt.Sprintf("/api/v1/tickets/%v/approve", got["id"]), map[string]any{})
	if code != http.StatusOK || got["state"] != "queued" {
		t.Fatalf("start: %d %v", code, got)
	}
}
