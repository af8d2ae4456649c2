package tickets_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/tickets"
)

// What a worker leaves a running ticket's job as: working on it, or snoozed
// for an hour (River's JobSnooze, as a staged review's pause does).
const (
	jobWorking = `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`
	jobSnoozed = `UPDATE river_job SET state = 'scheduled', attempt = 1, attempted_at = now(),
		scheduled_at = now() + interval '1 hour' WHERE id = $1`
)

// runningTicket starts a new-project restore and marks it running, its job
// then set by the statement job (jobWorking, jobSnoozed).
func (f fixture) runningTicket(t *testing.T, job string) tickets.Ticket {
	t.Helper()
	ctx := context.Background()
	tk := f.startNewProject(t)
	if _, err := tickets.MarkRunning(ctx, f.pool, tk.ID, tk.JobID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, job, tk.JobID); err != nil {
		t.Fatal(err)
	}
	return tk
}

// jobAsRiverSees reads job id through River's client, not the table.
func (f fixture) jobAsRiverSees(t *testing.T, id int64) *rivertype.JobRow {
	t.Helper()
	job, err := f.river.JobGet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// Cancelling a queued ticket cancels its job through River's JobCancelTx:
// River reports it cancelled and finalized, marked with River's own
// cancel_attempted_at, never attempted.
func TestCancelQueuedCancelsThroughRiver(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tk := f.startNewProject(t)
	if _, err := tickets.Cancel(context.Background(), f.pool, f.operator, tk.ID, "not needed"); err != nil {
		t.Fatal(err)
	}
	job := f.jobAsRiverSees(t, tk.JobID)
	if job.State != rivertype.JobStateCancelled || job.FinalizedAt == nil || job.Attempt != 0 || job.AttemptedAt != nil {
		t.Fatalf("job after the cancel: state %s finalized %v attempt %d attempted %v", job.State, job.FinalizedAt, job.Attempt, job.AttemptedAt)
	}
	if !jsonHas(job.Metadata, "cancel_attempted_at") {
		t.Fatalf("no River cancel mark in %s", job.Metadata)
	}
}

// The fault: a worker picks the queued ticket's job while the cancel runs.
// The cancel waits for the job's row, then sees the job running and leaves
// it to its worker (River's JobCancel would have marked it and cancelled the
// worker's context): the job stays running, unmarked, and the ticket is
// cancelled.
func TestCancelQueuedLeavesAJobPickedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.startNewProject(t)

	// A producer's fetch, held open: the row locked and set running.
	pick, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pick.Rollback(ctx) //nolint:errcheck
	var pid int
	if err := pick.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := pick.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, tk.JobID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := tickets.Cancel(ctx, f.pool, f.operator, tk.ID, "not needed")
		done <- err
	}()
	// Wait until the cancel is blocked on the picked row.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting bool
		if err := f.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND $1 = ANY(pg_blocking_pids(pid)))`, pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the cancel did not wait for the picked job: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancel never reached the job's row")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := pick.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	job := f.jobAsRiverSees(t, tk.JobID)
	if job.State != rivertype.JobStateRunning || jsonHas(job.Metadata, "cancel_attempted_at") {
		t.Fatalf("picked job after the cancel: state %s metadata %s", job.State, job.Metadata)
	}
	if got, err := tickets.TicketGet(ctx, f.pool, tk.ID); err != nil || got.State != tickets.StateCancelled {
		t.Fatalf("ticket: %s %v", got.State, err)
	}
}

// A staged-review decision wakes the snoozed job through River's JobRetryTx:
// River reports it available now, on the same attempt, with its attempts
// left; a job that is not snoozed (running again) is left alone.
func TestStagedReviewDecisionWakesThroughRiver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.runningTicket(t, jobSnoozed)
	rv, err := tickets.StagedReviewRecord(ctx, f.pool, tickets.StagedReview{TicketID: tk.ID, JobID: tk.JobID,
		StagingDatabase: "proj_bravo_stg", PlanDigest: "d", Tables: []compare.Result{{Table: "public.orders", Key: []string{"id"}, Same: 1}}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.StagedReviewAbandon(ctx, f.pool, f.operator, tk.ID, tickets.ReviewDecision{Digest: rv.Digest()}); err != nil {
		t.Fatal(err)
	}
	job := f.jobAsRiverSees(t, tk.JobID)
	if job.State != rivertype.JobStateAvailable || job.ScheduledAt.After(time.Now()) || job.Attempt != 1 || job.MaxAttempts != 5 {
		t.Fatalf("woken job: state %s scheduled %v attempt %d/%d", job.State, job.ScheduledAt, job.Attempt, job.MaxAttempts)
	}
}

// Cancelling a running ticket whose job is running (not waiting) leaves the
// job to its worker: River reports it running, unmarked.
func TestCancelRunningLeavesARunningJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.runningTicket(t, jobWorking)
	if _, err := tickets.Cancel(ctx, f.pool, f.operator, tk.ID, "not needed"); err != nil {
		t.Fatal(err)
	}
	job := f.jobAsRiverSees(t, tk.JobID)
	if job.State != rivertype.JobStateRunning || jsonHas(job.Metadata, "cancel_attempted_at") || job.Attempt != 1 {
		t.Fatalf("running job after the cancel: state %s attempt %d metadata %s", job.State, job.Attempt, job.Metadata)
	}
}

func jsonHas(doc []byte, key string) bool {
	var m map[string]any
	_ = json.Unmarshal(doc, &m)
	_, ok := m[key]
	return ok
}
