package tickets_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/tickets"
)

// TestRollbackOfAnOlderRestoreWaitsForTheNewer: two destructive restores of
// one project succeeded in turn; the rollback of the older is refused with
// the newer's ticket number while the newer stands, a new-project restore of
// the same project does not count, and once the newer is rolled back the
// older may be.
func TestRollbackOfAnOlderRestoreWaitsForTheNewer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	keep := time.Now().Add(7 * 24 * time.Hour)
	// jobDone ends a job as its worker would (no worker runs here), so the
	// project's next restore or rollback is not a duplicate of it.
	jobDone := func(id int64) {
		t.Helper()
		if _, err := f.pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	restored := func(mode tickets.Mode) tickets.Ticket {
		t.Helper()
		tk := f.newTicket(t, "proj-alpha", mode)
		tk, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.snaps[0].ID, Scope: tickets.Scope{Kind: tickets.ScopeFull}, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if mode == tickets.ModeDestructive {
			if _, err := tickets.Submit(ctx, f.pool, f.operator, tk.ID); err != nil {
				t.Fatal(err)
			}
			tk, err = tickets.Approve(ctx, f.pool, f.river, f.approver, tk.ID, "proj-alpha")
		} else {
			tk, err = tickets.Start(ctx, f.pool, f.river, f.operator, tk.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tickets.MarkRunning(ctx, f.pool, tk.ID, tk.JobID); err != nil {
			t.Fatal(err)
		}
		res := tickets.Result{OK: true, Message: "done", TargetDatabase: "alpha", KeptDatabase: fmt.Sprintf("alpha_kept_t%d", tk.ID), KeptUntil: &keep}
		if mode == tickets.ModeNewProject {
			res = tickets.Result{OK: true, Message: "done", TargetDatabase: fmt.Sprintf("alpha_new_t%d", tk.ID)}
		}
		if tk, err = tickets.Finish(ctx, f.pool, tk.ID, res); err != nil {
			t.Fatal(err)
		}
		jobDone(tk.JobID)
		return tk
	}
	older := restored(tickets.ModeDestructive)
	newer := restored(tickets.ModeDestructive)
	copyOf := restored(tickets.ModeNewProject)

	_, err := tickets.RequestRollback(ctx, f.pool, f.river, f.approver2, older.ID, "proj-alpha")
	if !isValidation(err, "rollback") || !strings.Contains(err.Error(), fmt.Sprintf("roll back ticket #%d first", newer.ID)) {
		t.Fatalf("rollback of the older restore while the newer stands: %v", err)
	}
	var ne *tickets.NewerRestoreError
	if err := tickets.CheckRollbackOrder(ctx, f.pool, older); !errors.As(err, &ne) || ne.TicketID != newer.ID {
		t.Fatalf("CheckRollbackOrder of the older: %v", err)
	}
	if got, _ := tickets.TicketGet(ctx, f.pool, older.ID); got.RollbackJobID != 0 || jobCount(t, f.pool, "restore_rollback") != 0 {
		t.Fatal("a refused rollback queued a job")
	}
	// The newest destructive restore, and a new-project copy, may go back.
	if err := tickets.CheckRollbackOrder(ctx, f.pool, copyOf); err != nil {
		t.Fatalf("a new-project restore is not ordered: %v", err)
	}
	rb, err := tickets.RequestRollback(ctx, f.pool, f.river, f.approver2, newer.ID, "proj-alpha")
	if err != nil {
		t.Fatalf("rollback of the newest restore: %v", err)
	}
	jobDone(rb.RollbackJobID)
	if _, err := tickets.FinishRollback(ctx, f.pool, newer.ID, nil); err != nil {
		t.Fatal(err)
	}
	if tk, err := tickets.RequestRollback(ctx, f.pool, f.river, f.approver2, older.ID, "proj-alpha"); err != nil || tk.RollbackJobID == 0 {
		t.Fatalf("rollback of the older restore once the newer is rolled back: %v", err)
	}
}
