package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/testenv"
)

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
