package runbook_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestRunRefusesLiveTablesWhoseColumnsChanged (attack: a live table altered
// after the snapshot): a tables restore and an undelete compare the live
// tables' columns with the restored copy's before touching live, and refuse
// naming the column. Nothing of live changes, StepVerified is never
// recorded, the staging database is dropped, and the two owner sessions of
// the check leave no login role behind.
func TestRunRefusesLiveTablesWhoseColumnsChanged(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mode  tickets.Mode
		steps []runbook.Step
	}{
		{tickets.ModeDestructive, []runbook.Step{runbook.StepSafetySnapshot, runbook.StepPrepared, runbook.StepApplied}},
		{tickets.ModeUndelete, []runbook.Step{runbook.StepPrepared, runbook.StepApplied}},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t)
			tk := f.runningAs(tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.orders"}}, c.mode)
			conn, err := f.cl.Connect(ctx, f.db)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, `ALTER TABLE public.orders ADD COLUMN added_since text`); err != nil {
				t.Fatal(err)
			}
			altered := f.checksum(f.db)

			var reached []runbook.Step
			d := f.deps
			d.StepHook = func(_ context.Context, _ int64, s runbook.Step) error { reached = append(reached, s); return nil }
			_, err = runbook.Run(ctx, d, tk, f.attempt(1))
			if err == nil || !strings.Contains(err.Error(), "no longer match the snapshot") || !strings.Contains(err.Error(), "added_since") {
				t.Fatalf("run: %v, want the column refusal naming added_since", err)
			}
			if !slices.Equal(reached, c.steps) {
				t.Errorf("steps reached %v, want %v (never verified)", reached, c.steps)
			}
			if f.checksum(f.db) != altered {
				t.Error("the refused run changed the live database")
			}
			staging := cluster.StagingName(f.db, tk.ID)
			if recs := f.records(ctx, tk.ID); recs[tickets.PurposeStaging+" "+staging] != tickets.RecordDropped || f.exists(staging) {
				t.Errorf("staging after the refusal: records %v, exists %v", recs, f.exists(staging))
			}
			var logins int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid
				JOIN pg_database d ON d.datdba = m.roleid
				WHERE d.datname = $1 AND starts_with(r.rolname, $2)`, f.db, cluster.LoginPrefix).Scan(&logins); err != nil || logins != 0 {
				t.Errorf("owner-session login roles left: %d %v", logins, err)
			}
		})
	}
}
