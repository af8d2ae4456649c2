package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jackc/pgx/v5"
	"github.com/restoreportal/portal/internal/audit"
	"github.com/riverqueue/river/rivertype"
	"time"
)

// StagedReviewGet returns ticket id's staged review.
func StagedReviewGet(ctx context.Context, db DB, id int64) (StagedReview, error) {
	var (
		r    StagedReview
		cmp  []byte
		by   *int64
		name *string
	)
	err := db.QueryRow(ctx, `SELECT r.ticket_id, r.job_id, r.state, r.staging_database, r.plan_digest, r.comparison,
			r.created_at, r.expires_at, r.decided_by, u.email, r.decided_at
		FROM ticket_staged_reviews r LEFT JOIN users u ON u.id = r.decided_by WHERE r.ticket_id = $1`, id).
		Scan(&r.TicketID, &r.JobID, &r.State, &r.StagingDatabase, &r.PlanDigest, &cmp, &r.CreatedAt, &r.ExpiresAt, &by, &name, &r.DecidedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return StagedReview{}, ErrNoStagedReview
	}
	if err != nil {
		return StagedReview{}, fmt.Errorf("staged review of ticket %d: %w", id, err)
	}
	if by != nil {
		r.DecidedBy = *by
	}
	if name != nil {
		r.DecidedByName = *name
	}
	if err := json.Unmarshal(cmp, &r.Tables); err != nil {
		return StagedReview{}, fmt.Errorf("staged review of ticket %d: %w", id, err)
	}
	return r, nil
}

// StagedReviewRecord stores the pause of ticket id's restore with its
// comparison, unless one is recorded already (a retried attempt): the
// recorded one is returned either way.
func StagedReviewRecord(ctx context.Context, db DB, r StagedReview, ttl time.Duration) (StagedReview, error) {
	b, err := json.Marshal(r.Tables)
	if err != nil {
		return StagedReview{}, err
	}
	if _, err := db.Exec(ctx, `INSERT INTO ticket_staged_reviews (ticket_id, job_id, state, staging_database, plan_digest, comparison, expires_at)
		VALUES ($1, $2, 'awaiting_cutover', $3, $4, $5, now() + $6::interval) ON CONFLICT (ticket_id) DO NOTHING`,
		r.TicketID, r.JobID, r.StagingDatabase, r.PlanDigest, b, ttl.String()); err != nil {
		return StagedReview{}, fmt.Errorf("record the staged review of ticket %d: %w", r.TicketID, err)
	}
	if err := audit.Record(ctx, db, WorkerActor.audit(), audit.Entry{Action: "restore.awaiting_cutover", TicketID: r.TicketID,
		After: map[string]any{"staging_database": r.StagingDatabase, "tables": len(r.Tables)}}); err != nil {
		return StagedReview{}, err
	}
	return StagedReviewGet(ctx, db, r.TicketID)
}

// StagedReviewExpire marks ticket id's awaiting review expired if its time
// is up; it reports whether the review is (now) expired.
func StagedReviewExpire(ctx context.Context, db DB, id int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE ticket_staged_reviews SET state = 'expired', decided_at = now()
		WHERE ticket_id = $1 AND state = 'awaiting_cutover' AND expires_at <= now()`, id)
	if err != nil {
		return false, fmt.Errorf("expire the staged review of ticket %d: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		if err := audit.Record(ctx, db, WorkerActor.audit(), audit.Entry{Action: "restore.review_expired", TicketID: id}); err != nil {
			return true, err
		}
	}
	return tag.RowsAffected() == 1, nil
}

// stagedReviewDecide moves ticket id's awaiting review to state to, decided by
// userID; false when it is no longer awaiting.
func stagedReviewDecide(ctx context.Context, db DB, id int64, to ReviewState, userID int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE ticket_staged_reviews SET state = $2, decided_by = $3, decided_at = now()
		WHERE ticket_id = $1 AND state = 'awaiting_cutover'`, id, string(to), userID)
	return tag.RowsAffected() == 1, err
}

// stagedReviewWakeJob makes the snoozing job of a paused restore run now,
// through River's JobRetryTx in tx; a job that is not snoozed is left alone.
func stagedReviewWakeJob(ctx context.Context, tx pgx.Tx, jobID int64) error {
	_, err := jobWake(ctx, tx, jobID, rivertype.JobStateScheduled)
	return err
}
