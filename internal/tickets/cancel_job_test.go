package tickets_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// startNewProject prepares and starts a new-project restore of proj-bravo.
func (f fixture) startNewProject(t *testing.T) tickets.Ticket {
	t.Helper()
	ctx := context.Background()
	tk := f.newTicket(t, "proj-bravo", tickets.ModeNewProject)
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.bravo[3].ID, Mode: tickets.ModeNewProject}); err != nil {
		t.Fatal(err)
	}
	tk, err := tickets.Start(ctx, f.pool, f.river, f.operator, tk.ID)
	if err != nil || tk.State != tickets.StateQueued || tk.JobID == 0 {
		t.Fatalf("start: %v %s job %d", err, tk.State, tk.JobID)
	}
	return tk
}

// The ux report's bug: a cancelled queued restore kept its River job
// available, and the project's uniqueness refused the next restore with
// "already has a restore queued or running" until a worker took the dead job.
// The cancelled job must end with the ticket, and never run.
func TestCancelQueuedRestoreFreesTheProject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	first := f.startNewProject(t)

	// Before the cancel, the project is taken.
	tk := f.newTicket(t, "proj-bravo", tickets.ModeNewProject)
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.bravo[3].ID, Mode: tickets.ModeNewProject}); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Start(ctx, f.pool, f.river, f.operator, tk.ID); !errors.Is(err, tickets.ErrRestoreInProgress) {
		t.Fatalf("second restore while the first is queued: %v", err)
	}

	if _, err := tickets.Cancel(ctx, f.pool, f.operator, first.ID, "customer found the data"); err != nil {
		t.Fatal(err)
	}
	var state string
	if err := f.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, first.JobID).Scan(&state); err != nil || state != "cancelled" {
		t.Fatalf("job of the cancelled ticket: %q %v", state, err)
	}
	second, err := tickets.Start(ctx, f.pool, f.river, f.operator, tk.ID)
	if err != nil || second.State != tickets.StateQueued || second.JobID == 0 || second.JobID == first.JobID {
		t.Fatalf("restore after the cancel: %v %s job %d", err, second.State, second.JobID)
	}

	// A worker on the restore queue takes the jobs in order: the second one
	// runs, the cancelled first one (inserted before it) never does.
	var mu sync.Mutex
	var ran []int64
	done := make(chan struct{}, 4)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[tickets.RestoreArgs]) error {
		mu.Lock()
		ran = append(ran, job.Args.TicketID)
		mu.Unlock()
		done <- struct{}{}
		return nil
	}))
	rc, err := river.NewClient(riverpgxv5.New(f.pool), &river.Config{Logger: testenv.Logger(t), Workers: workers,
		Queues: map[string]river.QueueConfig{tickets.QueueRestore: {MaxWorkers: 1}}, FetchPollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Stop(context.Background()) })
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the second restore's job never ran")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := f.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, second.JobID).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "completed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if state != "completed" {
		t.Fatalf("second job: %s", state)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 1 || ran[0] != second.ID {
		t.Fatalf("tickets worked: %v, want only %d", ran, second.ID)
	}
	var attempt int
	var attempted *time.Time
	if err := f.pool.QueryRow(ctx, `SELECT state, attempt, attempted_at FROM river_job WHERE id = $1`, first.JobID).Scan(&state, &attempt, &attempted); err != nil {
		t.Fatal(err)
	}
	if state != "cancelled" || attempt != 0 || attempted != nil {
		t.Fatalf("the cancelled job ran: state %s attempt %d at %v", state, attempt, attempted)
	}
}

// A running ticket's job that waits (a staged-review snooze, a fault retry)
// may hold a staging database: cancelling does not cancel the job behind the
// worker's back but wakes it now, so it drops the copy and ends.
func TestCancelRunningRestoreWakesItsWaitingJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.runningTicket(t, jobSnoozed) // what River leaves after a worker's JobSnooze(1h)
	if _, err := tickets.Cancel(ctx, f.pool, f.operator, tk.ID, "not needed"); err != nil {
		t.Fatal(err)
	}
	var state string
	var due bool
	if err := f.pool.QueryRow(ctx, `SELECT state, scheduled_at <= now() FROM river_job WHERE id = $1`, tk.JobID).Scan(&state, &due); err != nil {
		t.Fatal(err)
	}
	// River's JobRetryTx makes the waiting job available at once (the old
	// direct write left it scheduled and due, which River's scheduler turned
	// into available on its next pass): both mean "runs now".
	if state != "available" || !due {
		t.Fatalf("waiting job after the cancel: state %s due now %v", state, due)
	}
}
