package tickets

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/restoreportal/portal/internal/testenv"
)

// River's cancel and wake are part of the caller's transaction: rolled back
// (a state change that fails after them, a connection lost before the
// commit), the job is as it was. Committed, River reports the change.
func TestJobControlFollowsTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	rc := testenv.InsertOnlyRiver(t, pool)
	res, err := rc.Insert(ctx, RestoreArgs{TicketID: 1, ProjectRef: "proj-txn"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Job.ID
	state := func() rivertype.JobState {
		t.Helper()
		job, err := rc.JobGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return job.State
	}
	run := func(commit bool, op func(tx pgx.Tx) (bool, error)) bool {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		did, err := op(tx)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return did
	}
	cancel := func(tx pgx.Tx) (bool, error) { return jobCancelQueued(ctx, tx, id) }

	if !run(false, cancel) || state() != rivertype.JobStateAvailable {
		t.Fatalf("a rolled-back cancel: %s", state())
	}
	// Only waiting jobs wake: an available one is not a snoozed one.
	if run(true, func(tx pgx.Tx) (bool, error) { return jobWake(ctx, tx, id, rivertype.JobStateScheduled) }) {
		t.Fatal("woke a job that was not snoozed")
	}
	if !run(true, cancel) || state() != rivertype.JobStateCancelled {
		t.Fatalf("a committed cancel: %s", state())
	}
	// Finalized: neither a second cancel nor a wake touches it.
	if run(true, cancel) || run(true, func(tx pgx.Tx) (bool, error) {
		return jobWake(ctx, tx, id, rivertype.JobStateScheduled, rivertype.JobStateRetryable)
	}) || state() != rivertype.JobStateCancelled {
		t.Fatalf("a finalized job was changed: %s", state())
	}
	// A job that does not exist is no error.
	if did, err := func() (bool, error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return false, err
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		return jobCancelQueued(ctx, tx, id+1_000_000)
	}(); did || err != nil {
		t.Fatalf("missing job: %v %v", did, err)
	}
}
