package runbook_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/tickets"
)

// swapState is the state of the ticket's table-swap record of op, "none"
// when there is none.
func (f *fixture) swapState(ctx context.Context, id int64, op string) string {
	f.t.Helper()
	var st string
	err := f.pool.QueryRow(ctx, `SELECT state FROM ticket_table_swaps WHERE ticket_id = $1 AND op = $2`, id, op).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "none"
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// TestRunTablesSwapStepByStepAndRetryAfterItsCommit runs a destructive
// tables restore through Run and reads the records at every step: staging
// made before the apply, the backup database made before the swap, the
// swap recorded prepared inside its transaction, committing (with its
// transaction id) just before the commit, and still committing right after
// it. The attempt fails there, as if killed before recording the commit;
// the next attempt resolves the record from the live database's knowledge
// of that transaction and only finishes: no second swap, no apply.
func TestRunTablesSwapStepByStepAndRetryAfterItsCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tables := []string{"public.orders", "public.events"}
	tk := f.runningScope(tickets.Scope{Kind: tickets.ScopeTables, Tables: tables})
	staging, backup := cluster.StagingName(f.db, tk.ID), cluster.TableBackupName(f.db, tk.ID)
	st, bk := tickets.PurposeStaging+" "+staging, tickets.PurposeTableBackup+" "+backup

	type seen struct {
		swap    string
		records map[string]string
	}
	at := map[runbook.Step]seen{}
	var reached []runbook.Step
	d := f.deps
	d.StepHook = func(ctx context.Context, id int64, s runbook.Step) error {
		reached = append(reached, s)
		at[s] = seen{f.swapState(ctx, id, "restore"), f.records(ctx, id)}
		if s == runbook.StepSwapCommitted {
			return errInjected
		}
		return nil
	}
	_, err := runbook.Run(ctx, d, tk, f.attempt(1))
	if !runbook.IsAfterCutover(err) || !errors.Is(err, errInjected) {
		t.Fatalf("attempt 1: %v, want the injected error after the cut-over", err)
	}
	wantOrder := []runbook.Step{runbook.StepSafetySnapshot, runbook.StepPrepared, runbook.StepApplied, runbook.StepVerified,
		runbook.StepBackedUp, runbook.StepSwapLoaded, runbook.StepSwapCommitting, runbook.StepSwapCommitted}
	if !slices.Equal(reached, wantOrder) {
		t.Fatalf("steps reached %v, want %v", reached, wantOrder)
	}
	for _, c := range []struct {
		step    runbook.Step
		swap    string
		records map[string]string
	}{
		{runbook.StepPrepared, "none", map[string]string{st: tickets.RecordMade}},
		{runbook.StepVerified, "none", map[string]string{st: tickets.RecordMade}},
		{runbook.StepBackedUp, "none", map[string]string{st: tickets.RecordMade, bk: tickets.RecordMade}},
		{runbook.StepSwapLoaded, "prepared", map[string]string{st: tickets.RecordMade, bk: tickets.RecordMade}},
		{runbook.StepSwapCommitting, "committing", map[string]string{st: tickets.RecordMade, bk: tickets.RecordMade}},
		{runbook.StepSwapCommitted, "committing", map[string]string{st: tickets.RecordMade, bk: tickets.RecordMade}},
	} {
		if got := at[c.step]; got.swap != c.swap || !mapsEqual(got.records, c.records) {
			t.Errorf("at step %s: swap %s, records %v; want %s, %v", c.step, got.swap, got.records, c.swap, c.records)
		}
	}
	// The attempt ended after the commit: staging dropped, the backup kept.
	if recs := f.records(ctx, tk.ID); recs[st] != tickets.RecordDropped || recs[bk] != tickets.RecordMade || f.exists(staging) || !f.exists(backup) {
		t.Fatalf("after attempt 1: records %v", recs)
	}
	if f.checksum(f.db) == f.before {
		t.Fatal("the swap committed, yet the live database is unchanged")
	}
	swapped := f.checksum(f.db)

	reached = nil
	d.StepHook = func(_ context.Context, _ int64, s runbook.Step) error { reached = append(reached, s); return nil }
	o, err := runbook.Run(ctx, d, tk, f.attempt(2))
	if err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	if want := []runbook.Step{runbook.StepFollowUps}; !slices.Equal(reached, want) {
		t.Fatalf("attempt 2 reached %v, want only %v: it finishes from the record", reached, want)
	}
	if got := f.swapState(ctx, tk.ID, "restore"); got != "committed" {
		t.Errorf("swap record %s after the retry, want committed", got)
	}
	if f.checksum(f.db) != swapped {
		t.Error("the retry changed the live database again")
	}
	if len(o.Result.KeptTables) != len(tables) || o.Result.TargetDatabase != f.db {
		t.Errorf("result %+v", o.Result)
	}
	for _, n := range tables {
		if o.Result.KeptTables[n] != backup+".backup."+n {
			t.Errorf("kept tables %v: %s not kept in %s", o.Result.KeptTables, n, backup)
		}
	}
	if cs := f.cleanupsScheduled(); len(cs) != 1 || cs[0].c.Database != backup {
		t.Errorf("cleanups scheduled %+v, want the backup's", cs)
	}
}
