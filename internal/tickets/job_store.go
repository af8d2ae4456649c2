package tickets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// jobControl is the River client that cancels and wakes jobs for this
// package. It has no pool, queues or workers: River runs JobCancelTx and
// JobRetryTx on the transaction it is handed, so one pool-less client serves
// every caller and the state changes keep their signatures (no client to pass
// through the ~25 callers of Cancel and the staged-review decisions).
var jobControl = sync.OnceValues(func() (*river.Client[pgx.Tx], error) {
	return river.NewClient(riverpgxv5.New(nil), &river.Config{})
})

// jobLockState locks River job id's row in tx and returns its state; "" when
// there is no such job. The lock keeps the job where it is while the caller
// decides (a producer fetches with SKIP LOCKED, so the job cannot start
// running under us), and River's own write follows in the same transaction.
func jobLockState(ctx context.Context, tx pgx.Tx, id int64) (rivertype.JobState, error) {
	var state string
	err := tx.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1 FOR UPDATE`, id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return rivertype.JobState(state), err
}

// jobCancelQueued cancels River job id in tx through River's JobCancelTx if
// it is still waiting in the queue (available, scheduled, retryable or
// pending); a job a worker has picked, or one already finalized, is left
// alone. It reports whether the job was cancelled.
func jobCancelQueued(ctx context.Context, tx pgx.Tx, id int64) (bool, error) {
	return jobIfState(ctx, tx, id, []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStateScheduled,
		rivertype.JobStateRetryable, rivertype.JobStatePending}, (*river.Client[pgx.Tx]).JobCancelTx)
}

// jobWake makes River job id run now through River's JobRetryTx if it is in
// one of states (a snooze or a retry wait); River makes it available at once.
// A running or finalized job is left alone. It reports whether it woke it.
func jobWake(ctx context.Context, tx pgx.Tx, id int64, states ...rivertype.JobState) (bool, error) {
	return jobIfState(ctx, tx, id, states, (*river.Client[pgx.Tx]).JobRetryTx)
}

func jobIfState(ctx context.Context, tx pgx.Tx, id int64, states []rivertype.JobState,
	op func(*river.Client[pgx.Tx], context.Context, pgx.Tx, int64) (*rivertype.JobRow, error)) (bool, error) {
	rc, err := jobControl()
	if err != nil {
		return false, err
	}
	state, err := jobLockState(ctx, tx, id)
	if err != nil || !slices.Contains(states, state) {
		return false, err
	}
	if _, err := op(rc, ctx, tx, id); err != nil {
		return false, err
	}
	return true, nil
}

// releaseCancelledJob ends the River job of a ticket being cancelled, in the
// cancelling transaction, so the project's per-project uniqueness
// (uniqueByProject) no longer counts it.
//
// A queued ticket's job has not reached MarkRunning, so nothing of it exists
// yet: River cancels it (JobCancelTx) and it never runs. A job a worker has
// already picked is left alone: that worker finds the ticket cancelled and
// stops at once.
//
// A running ticket's job may be waiting (snoozed for a staged review, or
// between retries of a Postgres fault) with a staging database to drop: it is
// not cancelled but woken now (JobRetryTx), so it drops the copy and ends
// without waiting out its snooze.
func releaseCancelledJob(ctx context.Context, tx pgx.Tx, from State, jobID int64) error {
	if jobID == 0 {
		return nil
	}
	var err error
	switch from {
	case StateQueued:
		_, err = jobCancelQueued(ctx, tx, jobID)
	case StateRunning:
		_, err = jobWake(ctx, tx, jobID, rivertype.JobStateScheduled, rivertype.JobStateRetryable)
	}
	if err != nil {
		return fmt.Errorf("release the job of the cancelled ticket: %w", err)
	}
	return nil
}
