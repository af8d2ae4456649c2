package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/testenv"
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

// TestOpenAPIMatchesRoutes: the OpenAPI description the portal serves names
// every /api/v1 route of the router, and nothing the router does not serve;
// every operation has a summary and its responses.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	req, _ := http.NewRequest(http.MethodGet, p.srv.URL+"/api/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+p.token(t, auth.RoleViewer))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: %d %s", res.StatusCode, body)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	routes := map[string]bool{}
	for _, r := range p.e.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == "echo_route_not_found" {
			continue
		}
		routes[strings.ToLower(r.Method)+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			documented[method+" "+path] = true
			if op["summary"] == nil || op["responses"] == nil {
				t.Errorf("%s %s: no summary or responses", method, path)
			}
		}
	}
	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routes[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes the OpenAPI description leaves out: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented operations the router does not serve: %v", extra)
	}
	if len(routes) < 20 {
		t.Errorf("only %d /api/v1 routes found: %v", len(routes), routes)
	}
}

// TestProjectRegistrationAPI: only admins register; the cluster must be
// configured, the database must exist there, and its owner role must be
// unprivileged; a good registration records cluster, database and role.
func TestProjectRegistrationAPI(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	db := testenv.NewOwnedDatabase(t)
	ref := testenv.Name("reg-")
	good := map[string]any{"ref": ref, "cluster": "default", "database": db.Name, "owner_role": db.Owner}

	if code, _ := p.api(t, p.token(t, auth.RoleApprover), http.MethodPost, "/api/v1/projects", good); code != http.StatusForbidden {
		t.Fatalf("approver registered a project: %d", code)
	}
	superOwned := testenv.NewDatabase(t) // owned by the cluster's superuser
	superName := superOwned[strings.LastIndex(superOwned, "/")+1 : strings.Index(superOwned, "?")]
	admin := p.token(t, auth.RoleAdmin)
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
		says  string
	}{
		{"unknown cluster", map[string]any{"ref": ref, "cluster": "nowhere", "database": db.Name, "owner_role": db.Owner}, "cluster", "not configured"},
		{"missing database", map[string]any{"ref": ref, "database": "no_such_db_x", "owner_role": db.Owner}, "database", "does not exist"},
		{"superuser role", map[string]any{"ref": ref, "database": db.Name, "owner_role": "postgres"}, "owner_role", "SUPERUSER"},
		{"missing role", map[string]any{"ref": ref, "database": db.Name, "owner_role": "no_such_role_x"}, "owner_role", "does not exist"},
		{"superuser-owned database, no role", map[string]any{"ref": ref, "database": superName}, "owner_role", "SUPERUSER"},
		{"bad ref", map[string]any{"ref": "Bad Ref", "database": db.Name}, "ref", "not a project ref"},
	} {
		code, out := p.api(t, admin, http.MethodPost, "/api/v1/projects", tc.body)
		if code != http.StatusBadRequest || out["field"] == nil || !strings.HasPrefix(out["field"].(string), tc.field) || !strings.Contains(out["error"].(string), tc.says) {
			t.Errorf("%s: %d %v", tc.name, code, out)
		}
	}
	var n int
	if err := p.pool.QueryRow(context.Background(), `SELECT count(*) FROM projects WHERE ref = $1`, ref).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused registration was recorded (%d, %v)", n, err)
	}

	code, out := p.api(t, admin, http.MethodPost, "/api/v1/projects", good)
	if code != http.StatusCreated || out["cluster"] != "default" || out["owner_role"] != db.Owner || out["database_name"] != db.Name {
		t.Fatalf("register: %d %v", code, out)
	}
	var cluster, owner, source string
	err := p.pool.QueryRow(context.Background(), `SELECT cluster, owner_role, source FROM projects WHERE ref = $1`, ref).Scan(&cluster, &owner, &source)
	if err != nil || cluster != "default" || owner != db.Owner || source != "registered" {
		t.Fatalf("recorded %s %s %s (%v)", cluster, owner, source, err)
	}
	// No role given: the database's current (unprivileged) owner is used.
	code, out = p.api(t, admin, http.MethodPost, "/api/v1/projects", map[string]any{"ref": ref, "database": db.Name})
	if code != http.StatusCreated || out["owner_role"] != nil {
		t.Fatalf("register without a role: %d %v", code, out)
	}
}
