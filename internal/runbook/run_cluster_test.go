package runbook_test

import (
	"context"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestRecordsNameTheProjectsCluster: with the project on a second cluster
// (a private Postgres server of the test's, configured as "second"), every
// database record a full destructive restore, its rollback and a
// new-project restore write names "second", not "default"; the rollback and
// the new project's role drop find their records there; and nothing was made
// on the default cluster.
func TestRecordsNameTheProjectsCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pc := testenv.NewPrivateCluster(t)
	f := newFixtureOn(t, "second", pc.AdminURL)
	def, err := cluster.New(f.cfg.ProjectsAdminURL)
	if err != nil {
		t.Fatal(err)
	}
	onSecond := func(id int64) {
		t.Helper()
		recs, err := tickets.DatabaseRecordsByTicket(ctx, f.pool, id)
		if err != nil || len(recs) == 0 {
			t.Fatalf("records of ticket %d: %v %v", id, recs, err)
		}
		for _, r := range recs {
			if r.Cluster != "second" {
				t.Errorf("%s recorded on cluster %q, want second", r, r.Cluster)
			}
			if ok, err := def.Exists(ctx, r.Name); err != nil || ok {
				t.Errorf("database %s is on the default cluster (%v)", r.Name, err)
			}
		}
	}

	tk := f.running()
	o, err := runbook.Run(ctx, f.deps, tk, f.attempt(1))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !f.exists(o.Result.KeptDatabase) {
		t.Fatalf("kept database %s is not on the second cluster", o.Result.KeptDatabase)
	}
	onSecond(tk.ID)
	tk, _ = f.finished(ctx, tk, o)
	if err := runbook.Rollback(ctx, f.deps, tk, f.attempt(1)); err != nil {
		t.Fatalf("rollback on the second cluster: %v", err)
	}
	if got := f.checksum(f.db); got != f.before {
		t.Error("the rollback did not bring the live database back")
	}
	onSecond(tk.ID)

	// A new-project restore of another project on the same cluster (the
	// first project's restore job is unique per project and still queued:
	// no River worker runs here).
	f = newFixtureOn(t, "second", pc.AdminURL)
	np, role := f.newProjectRestored(ctx)
	onSecond(np.ID)
	if got := f.roleStates(np.ID); got[role] != tickets.RoleMade { // roleStates checks the cluster
		t.Fatalf("role records %v, want %s made", got, role)
	}
	if err := runbook.Rollback(ctx, f.deps, np, f.attempt(1)); err != nil {
		t.Fatalf("new-project rollback on the second cluster: %v", err)
	}
	if f.roleExists(role) || f.exists(np.Result.TargetDatabase) {
		t.Errorf("the new project's database or role %s is left on the second cluster", role)
	}
}
