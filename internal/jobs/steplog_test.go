package jobs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestStepLogRecordsEachStep runs a full destructive restore and its
// rollback and reads the ticket's step log: every step of the restore in
// order, each finished, the safety snapshot's key and size with its step,
// staging with prepare, the dump's bytes with apply, the kept copy with the
// cut-over; then the rollback's steps, with the aside copy.
func TestStepLogRecordsEachStep(t *testing.T) {
	t.Parallel()
	h, snap, _ := newChangedHarness(t)
	tk := h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	if rb := h.rollback(tk.ID); rb.State != tickets.StateRolledBack {
		t.Fatalf("rollback: %s %+v", rb.State, rb.Result)
	}
	steps, err := tickets.StepsOf(context.Background(), h.pool, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	by := map[string]tickets.StepLog{}
	for _, s := range steps {
		if s.FinishedAt == nil || s.FinishedAt.Before(s.StartedAt) || s.Attempt != 1 {
			t.Errorf("step %+v: not finished, or of another attempt", s)
		}
		names = append(names, s.Op+":"+s.Step)
		by[s.Op+":"+s.Step] = s
	}
	want := []string{"restore:precheck", "restore:safety snapshot", "restore:prepare", "restore:apply", "restore:verify",
		"restore:cut-over", "restore:follow-ups", "rollback:prepare", "rollback:swap", "rollback:record", "rollback:follow-ups"}
	if !slices.Equal(names, want) {
		t.Fatalf("steps %v, want %v", names, want)
	}
	safety := by["restore:safety snapshot"]
	if len(safety.Names) != 1 || !strings.HasSuffix(safety.Names[0], ".sql.gz") || safety.Bytes == nil || *safety.Bytes < 100 {
		t.Errorf("safety snapshot step: names %v bytes %v", safety.Names, safety.Bytes)
	}
	if s := by["restore:prepare"]; !slices.Contains(s.Names, cluster.StagingName(h.db, tk.ID)) {
		t.Errorf("prepare step made %v, want the staging database", s.Names)
	}
	if s := by["restore:apply"]; s.Bytes == nil || *s.Bytes != snap.Size {
		t.Errorf("apply step read %v bytes, the snapshot has %d", s.Bytes, snap.Size)
	}
	if s := by["restore:cut-over"]; !slices.Contains(s.Names, cluster.KeptName(h.db, tk.ID)) {
		t.Errorf("cut-over step made %v, want the kept database", s.Names)
	}
	if s := by["rollback:record"]; !slices.Contains(s.Names, cluster.RollbackAsideName(h.db, tk.ID)) {
		t.Errorf("rollback's record step made %v, want the aside database", s.Names)
	}
}
