package tickets

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// releaseCancelledJob ends the River job of a ticket being cancelled, in the
// cancelling transaction, so the project's per-project uniqueness
// (uniqueByProject) no longer counts it.
//
// A queued ticket's job has not reached MarkRunning, so nothing of it exists
// yet: the job is marked cancelled (what River's JobCancel does to a job that
// is not running) and never runs. A job a worker has already picked is left
// alone: that worker finds the ticket cancelled and stops at once.
//
// A running ticket's job may be waiting (snoozed for a staged review, or
// between retries of a Postgres fault) with a staging database to drop: it is
// not cancelled but woken now, so it drops the copy and ends without waiting
// out its snooze.
func releaseCancelledJob(ctx context.Context, tx pgx.Tx, from State, jobID int64) error {
	if jobID == 0 {
		return nil
	}
	var err error
	switch from {
	case StateQueued:
		_, err = tx.Exec(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now(),
			metadata = metadata || jsonb_build_object('cancel_attempted_at', now(), 'portal:cancelled_by', 'ticket cancelled while queued')
			WHERE id = $1 AND state IN ('available', 'scheduled', 'retryable', 'pending')`, jobID)
	case StateRunning:
		_, err = tx.Exec(ctx, `UPDATE river_job SET scheduled_at = now()
			WHERE id = $1 AND state IN ('scheduled', 'retryable')`, jobID)
	}
	if err != nil {
		return fmt.Errorf("release the job of the cancelled ticket: %w", err)
	}
	return nil
}
