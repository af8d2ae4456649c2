package runbook_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// newProjectRestored runs a new-project restore of the fixture's snapshot to
// success and returns its ticket and the owner role the restore used.
func (f *fixture) newProjectRestored(ctx context.Context) (tickets.Ticket, string) {
	f.t.Helper()
	tk := f.runningNewProject()
	o, err := runbook.Run(ctx, f.deps, tk, f.attempt(1))
	if err != nil {
		f.t.Fatalf("run: %v", err)
	}
	db := cluster.NewProjectDatabase(tk.TargetRef())
	if o.Result.TargetDatabase != db || !f.exists(db) {
		f.t.Fatalf("result %+v: want new database %s on the cluster", o.Result, db)
	}
	f.t.Cleanup(func() { testenv.DropRole(f.t, cluster.OwnerRoleFor(db)) })
	tk, _ = f.finished(ctx, tk, o)
	return tk, cluster.OwnerRoleFor(db)
}

func (f *fixture) roleExists(role string) bool {
	f.t.Helper()
	ok, err := f.cl.RoleExists(context.Background(), role)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

// roleStates is the ticket's role records, name to state.
func (f *fixture) roleStates(id int64) map[string]string {
	f.t.Helper()
	recs, err := tickets.RoleRecordsByTicket(context.Background(), f.pool, id)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		out[r.Name] = r.State
		if r.Cluster != f.cl.Name() {
			f.t.Errorf("role %s recorded on cluster %q, want %q", r.Name, r.Cluster, f.cl.Name())
		}
	}
	return out
}

// TestNewProjectRollbackDropsTheRoleItMade: a new-project restore records
// the owner role it creates before creating it; its rollback drops the
// database and then that role, and says so on the ticket. A second rollback
// attempt (as if the first died before its outcome was written) finds the
// database dropped by this ticket and finishes without error.
func TestNewProjectRollbackDropsTheRoleItMade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tk, role := f.newProjectRestored(ctx)
	db := tk.Result.TargetDatabase
	if !f.roleExists(role) {
		t.Fatalf("the restore's owner role %s is not on the cluster", role)
	}
	if got := f.roleStates(tk.ID); got[role] != tickets.RoleMade || len(got) != 1 {
		t.Fatalf("role records %v, want %s made", got, role)
	}
	if err := runbook.Rollback(ctx, f.deps, tk, f.attempt(1)); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if f.exists(db) {
		t.Errorf("database %s is still on the cluster", db)
	}
	if f.roleExists(role) {
		t.Errorf("role %s is still on the cluster after the rollback", role)
	}
	if got := f.roleStates(tk.ID); got[role] != tickets.RoleDropped {
		t.Errorf("role records %v, want %s dropped", got, role)
	}
	after, err := tickets.TicketGet(ctx, f.pool, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := after.Result.RollbackSummary; !strings.Contains(s, "owner role "+role+" was dropped") || !strings.Contains(s, db) {
		t.Errorf("rollback summary %q does not say the database and the role went", s)
	}
	if err := runbook.Rollback(ctx, f.deps, tk, f.attempt(2)); err != nil {
		t.Fatalf("a second rollback attempt after the first finished on the cluster: %v", err)
	}
	if got := runbook.LeftOnCluster(ctx, f.deps, tk.ID); !strings.Contains(got, "Nothing made by this ticket") {
		t.Errorf("left on the cluster: %s", got)
	}
}

// TestNewProjectRollbackLeavesARoleStillInUse: when the restore's owner role
// owns an object in another database by the time of the rollback, the
// rollback drops the new database but leaves the role, records why, and the
// ticket names the database that still depends on it.
func TestNewProjectRollbackLeavesARoleStillInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tk, role := f.newProjectRestored(ctx)
	otherURL := testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, otherURL)
	if err != nil {
		t.Fatal(err)
	}
	other := conn.Config().Database
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE kept_by_hand (id int); ALTER TABLE kept_by_hand OWNER TO "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if err := runbook.Rollback(ctx, f.deps, tk, f.attempt(1)); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if f.exists(tk.Result.TargetDatabase) {
		t.Errorf("database %s is still on the cluster", tk.Result.TargetDatabase)
	}
	if !f.roleExists(role) {
		t.Fatalf("role %s, still owning a table in %s, was dropped", role, other)
	}
	recs, err := tickets.RoleRecordsByTicket(ctx, f.pool, tk.ID)
	if err != nil || len(recs) != 1 || recs[0].State != tickets.RoleMade || !strings.Contains(recs[0].LeftBecause, other) {
		t.Fatalf("role records %+v (%v): want it made, left because of %s", recs, err, other)
	}
	after, err := tickets.TicketGet(ctx, f.pool, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := after.Result.RollbackSummary; !strings.Contains(s, "Role "+role) || !strings.Contains(s, "is left") || !strings.Contains(s, "database "+other) {
		t.Errorf("rollback summary %q does not say the role is left and why", s)
	}
	if got := runbook.LeftOnCluster(ctx, f.deps, tk.ID); !strings.Contains(got, "role "+role) {
		t.Errorf("left on the cluster does not name the role: %s", got)
	}
}

// TestNewProjectRollbackLeavesARoleItDidNotMake: a role of the new
// database's owner-role name that existed before the restore (made by hand,
// here with a member of its own) is used but recorded as existing, and the
// rollback never drops it, though nothing depends on it.
func TestNewProjectRollbackLeavesARoleItDidNotMake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tk := f.runningNewProject()
	role := cluster.OwnerRoleFor(cluster.NewProjectDatabase(tk.TargetRef()))
	admin, err := pgx.Connect(ctx, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.DropRole(t, role) })
	o, err := runbook.Run(ctx, f.deps, tk, f.attempt(1))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := f.roleStates(tk.ID); got[role] != tickets.RoleExisting {
		t.Fatalf("role records %v, want %s existing", got, role)
	}
	tk, res := f.finished(ctx, tk, o)
	if err := runbook.Rollback(ctx, f.deps, tk, f.attempt(1)); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if f.exists(res.TargetDatabase) {
		t.Errorf("database %s is still on the cluster", res.TargetDatabase)
	}
	if !f.roleExists(role) {
		t.Fatalf("role %s, which existed before the restore, was dropped by its rollback", role)
	}
}
