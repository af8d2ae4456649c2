package tickets_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// clusterFixture is setup with a catalog that looks names up on the real
// project cluster.
func clusterFixture(t *testing.T) (fixture, *cluster.Cluster) {
	t.Helper()
	f := setup(t)
	cl, err := cluster.New(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	f.cat = tickets.SnapshotCatalogOn(f.pool, cl)
	return f, cl
}

func validationMsg(t *testing.T, err error, field string) string {
	t.Helper()
	var ve *tickets.ValidationError
	if !errors.As(err, &ve) || ve.Field != field {
		t.Fatalf("want a validation error on %s, got %v", field, err)
	}
	return ve.Msg
}

func TestPrepareRefusesExistingOrReservedTargets(t *testing.T) {
	t.Parallel()
	f, cl := clusterFixture(t)
	ctx := context.Background()

	// An unregistered database on the cluster, named as a ref would map to it.
	existing := testenv.Name("t_exist_")
	if err := cl.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.DropDatabase(t, existing) })
	var portalDB string
	if err := f.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&portalDB); err != nil {
		t.Fatal(err)
	}
	// A kept copy recorded for another ticket.
	other := f.newTicket(t, "proj-alpha", tickets.ModeDestructive)
	if _, _, err := tickets.DatabaseRecordClaim(ctx, f.pool, other.ID, "proj_alpha_pre_t5", "", tickets.PurposeKept); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		target string
		want   string
	}{
		{strings.ReplaceAll(existing, "_", "-"), "database " + existing + " already exists on cluster default: a new-project restore needs a new name"},
		{"postgres", "database postgres is one of the cluster's own databases"},
		{"template1", "one of the cluster's own databases"},
		{strings.ReplaceAll(portalDB, "_", "-"), "is the portal's own database"},
		{"proj-alpha-pre-t5", "recorded as the kept of ticket"},
		{"proj-bravo", "project proj-bravo exists already"},
		{"proj-alpha", "is the project being restored"},
	}
	for _, tt := range tests {
		tk := f.newTicket(t, "proj-alpha", tickets.ModeNewProject)
		_, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{
			SnapshotID: f.snaps[0].ID, Mode: tickets.ModeNewProject, Options: tickets.Options{TargetRef: tt.target}})
		if msg := validationMsg(t, err, "target_ref"); !strings.Contains(msg, tt.want) {
			t.Errorf("target %s: message %q, want it to say %q", tt.target, msg, tt.want)
		}
		if got, err := tickets.TicketGet(ctx, f.pool, tk.ID); err != nil || got.State != tickets.StateNew {
			t.Errorf("target %s: the refused ticket moved to %s (%v)", tt.target, got.State, err)
		}
	}
	if ok, err := cl.Exists(ctx, existing); err != nil || !ok {
		t.Fatalf("the existing database was touched: exists=%v %v", ok, err)
	}
	// A fresh name passes.
	tk := f.newTicket(t, "proj-alpha", tickets.ModeNewProject)
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{
		SnapshotID: f.snaps[0].ID, Mode: tickets.ModeNewProject, Options: tickets.Options{TargetRef: testenv.Name("fresh-")}}); err != nil {
		t.Fatalf("a fresh target: %v", err)
	}
}

func TestPrepareRefusesDestructiveRestoreOfReservedDatabase(t *testing.T) {
	t.Parallel()
	f, _ := clusterFixture(t)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, `UPDATE projects SET database_name = 'postgres' WHERE ref = 'proj-bravo'`); err != nil {
		t.Fatal(err)
	}
	tk := f.newTicket(t, "proj-bravo", tickets.ModeDestructive)
	_, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.bravo[0].ID, Mode: tickets.ModeDestructive})
	if msg := validationMsg(t, err, "mode"); !strings.Contains(msg, "postgres is one of the cluster's own databases") {
		t.Fatalf("message %q", msg)
	}
}

func TestOptionsNumbersAreBounded(t *testing.T) {
	t.Parallel()
	f, _ := clusterFixture(t)
	ctx := context.Background()
	for _, days := range []int{200000, 91, -1} {
		tk := f.newTicket(t, "proj-alpha", tickets.ModeDestructive)
		_, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{
			SnapshotID: f.snaps[0].ID, Mode: tickets.ModeDestructive, Options: tickets.Options{KeepDays: days}})
		if msg := validationMsg(t, err, "keep_days"); !strings.Contains(msg, "between 1 and 90 days") {
			t.Errorf("keep_days %d: %q", days, msg)
		}
		_, err = tickets.Create(ctx, f.pool, f.cat, f.operator, tickets.NewTicket{Source: tickets.SourceAPI, RequesterEmail: "c@example.org",
			ProjectRef: "proj-alpha", Mode: tickets.ModeDestructive, Options: tickets.Options{KeepDays: days}})
		validationMsg(t, err, "keep_days")
	}
	many := make([]string, tickets.MaxScopeTables+1)
	for i := range many {
		many[i] = fmt.Sprintf("public.t%d", i)
	}
	_, err := tickets.Create(ctx, f.pool, f.cat, f.operator, tickets.NewTicket{Source: tickets.SourceAPI, RequesterEmail: "c@example.org",
		ProjectRef: "proj-alpha", Mode: tickets.ModeNewProject, Scope: tickets.Scope{Kind: tickets.ScopeTables, Tables: many}})
	if msg := validationMsg(t, err, "scope"); !strings.Contains(msg, "at most 1000") {
		t.Errorf("1001 tables: %q", msg)
	}
	tk := f.newTicket(t, "proj-alpha", tickets.ModeDestructive)
	got, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{
		SnapshotID: f.snaps[0].ID, Mode: tickets.ModeDestructive, Options: tickets.Options{KeepDays: 90}})
	if err != nil || got.Options.KeepDays != 90 {
		t.Fatalf("keep_days 90: %v %+v", err, got.Options)
	}
}

func TestDefaultTargetRefOfLongRefIsValid(t *testing.T) {
	t.Parallel()
	f, _ := clusterFixture(t)
	ctx := context.Background()
	ref := strings.Repeat("l", 50) + "-" + testenv.Name("")
	ref = ref[:63]
	snaps := tickettest.Snapshots(t, f.pool, ref)
	tk := f.newTicket(t, ref, tickets.ModeNewProject)
	got, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: snaps[0].ID, Mode: tickets.ModeNewProject})
	if err != nil {
		t.Fatalf("prepare a new-project restore of a 63-character ref: %v", err)
	}
	if tr := got.TargetRef(); len(tr) > 63 || tr == ref {
		t.Fatalf("default target ref %q", tr)
	}
	// The ref is accepted by the projects table's CHECK.
	if _, err := f.pool.Exec(ctx, `INSERT INTO projects (ref, source) VALUES ($1, 'restored')`, got.TargetRef()); err != nil {
		t.Fatalf("default target ref %q is not a valid project ref: %v", got.TargetRef(), err)
	}
}
