package runbook_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/tickets"
)

// fullSteps are the records a full destructive restore of live (ticket id)
// has at each of its steps, on the first attempt.
func fullSteps(live string, id int64) map[runbook.Step]want {
	staging, kept := cluster.StagingName(live, id), cluster.KeptName(live, id)
	st, kp := tickets.PurposeStaging+" "+staging, tickets.PurposeKept+" "+kept
	return map[runbook.Step]want{
		// Staging is claimed before the safety snapshot, made after it.
		runbook.StepSafetySnapshot: {records: map[string]string{st: tickets.RecordPlanned}, gone: []string{staging, kept}, liveAsWas: true},
		runbook.StepPrepared:       {records: map[string]string{st: tickets.RecordMade}, exists: []string{staging}, gone: []string{kept}, liveAsWas: true},
		runbook.StepApplied:        {records: map[string]string{st: tickets.RecordMade}, exists: []string{staging}, gone: []string{kept}, liveAsWas: true},
		runbook.StepVerified:       {records: map[string]string{st: tickets.RecordMade}, exists: []string{staging}, gone: []string{kept}, liveAsWas: true},
		// The cut-over's intent (the kept name) is recorded before the rename.
		runbook.StepBlocked: {records: map[string]string{st: tickets.RecordMade, kp: tickets.RecordPlanned}, exists: []string{staging}, gone: []string{kept}},
		// The swap committed, its fact not recorded yet.
		runbook.StepCutover: {records: map[string]string{st: tickets.RecordMade, kp: tickets.RecordPlanned}, exists: []string{kept, live}, gone: []string{staging}},
		// Its fact: kept is made, staging became live.
		runbook.StepRecorded:  {records: map[string]string{st: tickets.RecordDropped, kp: tickets.RecordMade}, exists: []string{kept, live}, gone: []string{staging}},
		runbook.StepFollowUps: {records: map[string]string{st: tickets.RecordDropped, kp: tickets.RecordMade}, exists: []string{kept, live}, gone: []string{staging}},
	}
}

// TestRunFullDestructiveStepByStep runs a full destructive restore and its
// rollback through Run and Rollback and checks the ticket's records at every
// step: staging claimed, then made; the kept name's intent before the swap,
// its fact after; the live database unchanged until the swap; the cleanup
// handed to the scheduler only after the record. The rollback likewise: the
// aside name claimed first, made only once the swap back is recorded.
func TestRunFullDestructiveStepByStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tk := f.running()
	kept, aside := cluster.KeptName(f.db, tk.ID), cluster.RollbackAsideName(f.db, tk.ID)
	var reached []runbook.Step
	d := f.deps
	d.StepHook = f.hookChecking(fullSteps(f.db, tk.ID), "", &reached)
	o, err := runbook.Run(ctx, d, tk, f.attempt(1))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	wantOrder := []runbook.Step{runbook.StepSafetySnapshot, runbook.StepPrepared, runbook.StepApplied, runbook.StepVerified,
		runbook.StepBlocked, runbook.StepCutover, runbook.StepRecorded, runbook.StepFollowUps}
	if !slices.Equal(reached, wantOrder) {
		t.Fatalf("steps reached %v, want %v", reached, wantOrder)
	}
	if o.Cancelled || o.Interrupted || !o.Progressed {
		t.Errorf("outcome %+v: want neither cancelled nor interrupted, and progressed", o)
	}
	if o.Result.KeptDatabase != kept || o.Result.TargetDatabase != f.db || o.Result.KeptUntil == nil || len(o.Result.Steps) == 0 {
		t.Fatalf("result %+v", o.Result)
	}
	if got := f.checksum(kept); got != f.before {
		t.Errorf("the kept database is not the replaced live one")
	}
	if cs := f.cleanupsScheduled(); len(cs) != 1 || cs[0].c.Database != kept || cs[0].c.TicketID != tk.ID || !cs[0].at.Equal(*o.Result.KeptUntil) {
		t.Errorf("cleanups scheduled %+v, want one of %s at %v", cs, kept, o.Result.KeptUntil)
	}
	if got, want := f.stepsOf(tk.ID, tickets.StepOpRestore, 1), []string{"precheck", "safety snapshot", "prepare", "apply", "verify", "cut-over", "follow-ups"}; !slices.Equal(got, want) {
		t.Errorf("step log %v, want %v", got, want)
	}

	// The worker records the success; then the rollback.
	tk, _ = f.finished(ctx, tk, o)
	st, kp, as := tickets.PurposeStaging+" "+cluster.StagingName(f.db, tk.ID), tickets.PurposeKept+" "+kept, tickets.PurposeRollbackAside+" "+aside
	restored := map[string]string{st: tickets.RecordDropped, kp: tickets.RecordMade}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range restored {
			m[a] = b
		}
		return m
	}
	rollback := map[runbook.Step]want{
		runbook.StepRollbackPrepared: {records: with(as, tickets.RecordPlanned), exists: []string{kept, f.db}, gone: []string{aside}},
		runbook.StepRollbackBlocked:  {records: with(as, tickets.RecordPlanned), exists: []string{kept, f.db}, gone: []string{aside}},
		runbook.StepRollbackCutover:  {records: with(as, tickets.RecordPlanned), exists: []string{aside, f.db}, gone: []string{kept}},
		runbook.StepRollbackRecorded: {records: map[string]string{st: tickets.RecordDropped, kp: tickets.RecordDropped, as: tickets.RecordMade}, exists: []string{aside, f.db}, gone: []string{kept}},
		runbook.StepRollbackFollowUps: {records: map[string]string{st: tickets.RecordDropped, kp: tickets.RecordDropped, as: tickets.RecordMade},
			exists: []string{aside, f.db}, gone: []string{kept}, liveAsWas: true},
	}
	reached = nil
	d.StepHook = f.hookChecking(rollback, "", &reached)
	if err := runbook.Rollback(ctx, d, tk, f.attempt(1)); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	wantOrder = []runbook.Step{runbook.StepRollbackPrepared, runbook.StepRollbackBlocked, runbook.StepRollbackCutover, runbook.StepRollbackRecorded, runbook.StepRollbackFollowUps}
	if !slices.Equal(reached, wantOrder) {
		t.Fatalf("rollback steps reached %v, want %v", reached, wantOrder)
	}
	if tk, err = tickets.TicketGet(ctx, f.pool, tk.ID); err != nil || tk.Result.RollbackKept != aside {
		t.Fatalf("the ticket does not name the aside copy %s: %+v %v", aside, tk.Result, err)
	}
	if cs := f.cleanupsScheduled(); len(cs) != 2 || cs[1].c.Database != aside {
		t.Errorf("cleanups scheduled %+v, want the aside copy's second", cs)
	}
	if got, want := f.stepsOf(tk.ID, tickets.StepOpRollback, 1), []string{"prepare", "swap", "record", "follow-ups"}; !slices.Equal(got, want) {
		t.Errorf("rollback step log %v, want %v", got, want)
	}
}

// TestRunRetryAfterTheCutoverResumesFromTheRecord: an attempt that fails
// right after the swap committed (as if killed before recording it) returns
// an after-cut-over error with the intent recorded and the fact not; the
// next attempt reads that record and only records and finishes: it neither
// takes another safety snapshot nor applies the dump again. A rollback
// failing after its swap back resumes from its record the same way.
func TestRunRetryAfterTheCutoverResumesFromTheRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tk := f.running()
	kept, aside := cluster.KeptName(f.db, tk.ID), cluster.RollbackAsideName(f.db, tk.ID)
	expect := fullSteps(f.db, tk.ID)
	var reached []runbook.Step
	d := f.deps
	d.StepHook = f.hookChecking(expect, runbook.StepCutover, &reached)
	_, err := runbook.Run(ctx, d, tk, f.attempt(1))
	if !runbook.IsAfterCutover(err) {
		t.Fatalf("attempt 1: %v, want an after-cut-over error", err)
	}
	safety, ok, err := tickets.SafetySnapshotOf(ctx, f.pool, tk.ID)
	if err != nil || !ok {
		t.Fatalf("no safety snapshot recorded: %v", err)
	}

	reached = nil
	d.StepHook = f.hookChecking(expect, "", &reached)
	o, err := runbook.Run(ctx, d, tk, f.attempt(2))
	if err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	if want := []runbook.Step{runbook.StepRecorded, runbook.StepFollowUps}; !slices.Equal(reached, want) {
		t.Fatalf("attempt 2 reached %v, want only %v: it resumes from the recorded cut-over", reached, want)
	}
	if got := f.stepsOf(tk.ID, tickets.StepOpRestore, 2); slices.Contains(got, "apply") || slices.Contains(got, "safety snapshot") || !slices.Contains(got, "follow-ups") {
		t.Errorf("attempt 2's step log %v: it must not apply or snapshot again", got)
	}
	if again, _, _ := tickets.SafetySnapshotOf(ctx, f.pool, tk.ID); again != safety {
		t.Errorf("safety snapshot %d became %d", safety, again)
	}
	if o.Result.KeptDatabase != kept || f.checksum(kept) != f.before {
		t.Fatalf("result %+v: the kept copy is not the replaced database", o.Result)
	}

	tk, _ = f.finished(ctx, tk, o)
	d.StepHook = func(_ context.Context, _ int64, s runbook.Step) error {
		if s == runbook.StepRollbackCutover {
			return errInjected
		}
		return nil
	}
	if err := runbook.Rollback(ctx, d, tk, f.attempt(1)); !runbook.IsAfterCutover(err) {
		t.Fatalf("rollback attempt 1: %v, want an after-cut-over error", err)
	}
	if recs := f.records(ctx, tk.ID); recs[tickets.PurposeRollbackAside+" "+aside] != tickets.RecordPlanned || !f.exists(aside) || f.exists(kept) {
		t.Fatalf("after the swap back, before its record: records %v", recs)
	}
	reached = nil
	d.StepHook = func(_ context.Context, _ int64, s runbook.Step) error { reached = append(reached, s); return nil }
	if err := runbook.Rollback(ctx, d, tk, f.attempt(2)); err != nil {
		t.Fatalf("rollback attempt 2: %v", err)
	}
	if slices.Contains(reached, runbook.StepRollbackBlocked) || !slices.Contains(reached, runbook.StepRollbackRecorded) {
		t.Errorf("rollback attempt 2 reached %v: it must record the committed swap back, not swap again", reached)
	}
	if recs := f.records(ctx, tk.ID); recs[tickets.PurposeRollbackAside+" "+aside] != tickets.RecordMade || recs[tickets.PurposeKept+" "+kept] != tickets.RecordDropped {
		t.Errorf("after the rollback's retry: records %v", recs)
	}
	if f.checksum(f.db) != f.before {
		t.Errorf("the live database is not the one from before the restore")
	}
}

// TestRunRetryBeforeTheCutoverReusesTheSafetySnapshot: an attempt that
// fails after the apply drops its staging copy (recorded dropped) and
// leaves live as it was; the next attempt reuses the safety snapshot
// recorded on the ticket, applies again and swaps.
func TestRunRetryBeforeTheCutoverReusesTheSafetySnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tk := f.running()
	staging := cluster.StagingName(f.db, tk.ID)
	var reached []runbook.Step
	d := f.deps
	d.StepHook = f.hookChecking(fullSteps(f.db, tk.ID), runbook.StepApplied, &reached)
	_, err := runbook.Run(ctx, d, tk, f.attempt(1))
	if !errors.Is(err, errInjected) || runbook.IsAfterCutover(err) {
		t.Fatalf("attempt 1: %v, want the injected error, before the cut-over", err)
	}
	if recs := f.records(ctx, tk.ID); !mapsEqual(recs, map[string]string{tickets.PurposeStaging + " " + staging: tickets.RecordDropped}) || f.exists(staging) {
		t.Fatalf("after a failure before the cut-over: records %v, staging on the cluster %v", recs, f.exists(staging))
	}
	if f.checksum(f.db) != f.before {
		t.Fatal("the live database changed")
	}
	safety, ok, err := tickets.SafetySnapshotOf(ctx, f.pool, tk.ID)
	if err != nil || !ok {
		t.Fatalf("no safety snapshot recorded: %v", err)
	}

	reached = nil
	d.StepHook = func(_ context.Context, _ int64, s runbook.Step) error { reached = append(reached, s); return nil }
	o, err := runbook.Run(ctx, d, tk, f.attempt(2))
	if err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	if slices.Contains(reached, runbook.StepSafetySnapshot) || !slices.Contains(reached, runbook.StepApplied) || !slices.Contains(reached, runbook.StepRecorded) {
		t.Errorf("attempt 2 reached %v: it must reuse the safety snapshot and redo the apply", reached)
	}
	if again, _, _ := tickets.SafetySnapshotOf(ctx, f.pool, tk.ID); again != safety {
		t.Errorf("safety snapshot %d became %d", safety, again)
	}
	if got := f.stepsOf(tk.ID, tickets.StepOpRestore, 2); slices.Contains(got, "safety snapshot") || !slices.Contains(got, "apply") {
		t.Errorf("attempt 2's step log %v", got)
	}
	if o.Result.KeptDatabase == "" || f.checksum(o.Result.KeptDatabase) != f.before {
		t.Errorf("result %+v", o.Result)
	}
}
