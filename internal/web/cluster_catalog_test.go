package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// TestPrepareLooksTheTargetUpOnTheProjectsCluster: for a project registered
// on a second cluster (a private Postgres server, configured as "second"),
// Prepare refuses a new-project target whose database exists there, naming
// that cluster, though the default cluster has no such database; the same
// target for a project on the default cluster is accepted. A succeeded new
// project of the second cluster's project shows a connection string to the
// second cluster's host and port, not the default's.
func TestPrepareLooksTheTargetUpOnTheProjectsCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pc := testenv.NewPrivateCluster(t)
	p := newPortalWith(t, testenv.Logger(t), func(c *config.Config) {
		c.Clusters = map[string]string{cluster.Default: c.ProjectsAdminURL, "second": pc.AdminURL}
	})
	second := tickettest.Snapshots(t, p.pool, "proj-second")
	if _, err := p.pool.Exec(ctx, `UPDATE projects SET cluster = 'second' WHERE ref = 'proj-second'`); err != nil {
		t.Fatal(err)
	}
	target := testenv.Name("copy-")
	db := cluster.NewProjectDatabase(target)
	admin, err := pgx.Connect(ctx, pc.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	op := p.token(t, auth.RoleOperator)
	prepare := func(project string, snap int64, target string) (int, map[string]any, string) {
		t.Helper()
		_, got := p.api(t, op, "POST", "/api/v1/tickets", map[string]any{"project_ref": project, "mode": "new_project", "requester_email": "c@example.org"})
		tp := fmt.Sprintf("/api/v1/tickets/%v", got["id"])
		code, got := p.api(t, op, "POST", tp+"/prepare", map[string]any{"snapshot_id": snap, "target_ref": target})
		return code, got, tp
	}
	code, got, _ := prepare("proj-second", second[3].ID, target)
	if code != http.StatusUnprocessableEntity || got["field"] != "target_ref" || !strings.Contains(fmt.Sprint(got), "already exists on cluster second") {
		t.Fatalf("prepare onto a database that exists on the project's cluster: %d %v", code, got)
	}
	if code, got, _ := prepare("proj-alpha", p.snaps[3].ID, target); code != http.StatusOK {
		t.Fatalf("the same target for a project on the default cluster (where %s does not exist): %d %v", db, code, got)
	}

	// A new project of proj-second that succeeded: its connection string
	// names the second cluster's address.
	other := testenv.Name("copy-")
	code, got, tp := prepare("proj-second", second[3].ID, other)
	if code != http.StatusOK {
		t.Fatalf("prepare: %d %v", code, got)
	}
	if code, got := p.api(t, op, "POST", tp+"/start", nil); code != http.StatusOK {
		t.Fatalf("start: %d %v", code, got)
	}
	var id int64
	fmt.Sscan(strings.TrimPrefix(tp, "/api/v1/tickets/"), &id)
	tk, err := tickets.TicketGet(ctx, p.pool, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.MarkRunning(ctx, p.pool, id, tk.JobID); err != nil {
		t.Fatal(err)
	}
	newDB := cluster.NewProjectDatabase(other)
	if _, err := tickets.Finish(ctx, p.pool, id, tickets.Result{OK: true, TargetDatabase: newDB}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(pc.AdminURL)
	_, body := p.login(t, "viewer@example.com").get(fmt.Sprintf("/tickets/%d", id))
	if want := "@" + u.Host + "/" + newDB; !strings.Contains(body, want) {
		t.Fatalf("the new project's page has no connection string to %s", want)
	}
}
