package tickets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/compare"
)

// Staged review: a destructive tables restore with Options.StagedReview
// pauses after its restored copy is complete and verified. The worker stores
// the row-level comparison of every table (the copy against live) and waits
// (its job snoozes) until an approver confirms the cut-over, which wakes the
// job to continue from the verified copy, or abandons it (or the pause
// expires): the copy is dropped and live is not touched.

// ReviewState is where a staged review is.
type ReviewState string

const (
	ReviewAwaiting  ReviewState = "awaiting_cutover"
	ReviewConfirmed ReviewState = "confirmed"
	ReviewAbandoned ReviewState = "abandoned"
	ReviewExpired   ReviewState = "expired"
)

// PhaseAwaitingCutover is the progress phase of a paused restore.
const PhaseAwaitingCutover = "awaiting cut-over"

// StagedReview is the pause of one ticket's restore before its cut-over.
type StagedReview struct {
	TicketID        int64            `json:"ticket_id"`
	JobID           int64            `json:"job_id"`
	State           ReviewState      `json:"state"`
	StagingDatabase string           `json:"staging_database"`
	PlanDigest      string           `json:"plan_digest"`
	Tables          []compare.Result `json:"tables"`
	CreatedAt       time.Time        `json:"created_at"`
	ExpiresAt       time.Time        `json:"expires_at"`
	DecidedBy       int64            `json:"decided_by,omitempty"`
	DecidedByName   string           `json:"decided_by_name,omitempty"`
	DecidedAt       *time.Time       `json:"decided_at,omitempty"`
}

// Digest names this review as it was shown: a confirmation carries it, and
// one of another review (recomputed by a later attempt) is refused.
func (r StagedReview) Digest() string {
	b, _ := json.Marshal(struct {
		T  int64
		S  string
		P  string
		C  time.Time
		Ts []compare.Result
	}{r.TicketID, r.StagingDatabase, r.PlanDigest, r.CreatedAt.UTC().Truncate(time.Microsecond), r.Tables})
	h := sha256.Sum256(append([]byte("restoreportal-review\n"), b...))
	return hex.EncodeToString(h[:])
}

// Expired says whether an awaiting review is past its time.
func (r StagedReview) Expired(now time.Time) bool {
	return r.State == ReviewAwaiting && !now.Before(r.ExpiresAt)
}

var (
	// ErrNoStagedReview means the ticket's restore has not paused for review.
	ErrNoStagedReview = errors.New("this restore is not paused for a staged review")
	// ErrReviewChanged refuses a confirmation of a review other than the
	// current one, or of one that is no longer awaiting a decision. It is an
	// ErrConflict (409).
	ErrReviewChanged error = reviewChangedError{}
)

type reviewChangedError struct{}

func (reviewChangedError) Error() string {
	return "the staged review changed since you loaded the page (or was decided, or expired); look at the current one"
}

func (reviewChangedError) Unwrap() error { return ErrConflict }

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

// ReviewDecision is what a person sends to confirm or abandon a cut-over:
// the digest of the review they were shown and, to confirm, the project ref
// typed again.
type ReviewDecision struct {
	Digest     string
	ConfirmRef string
}

// StagedReviewConfirm lets ticket id's paused restore cut over. The rules of
// an approval apply: the approver role, nobody who prepared or submitted the
// plan, the project ref typed, and the review shown still the current one
// and awaiting. It wakes the restore's job in the same transaction.
func StagedReviewConfirm(ctx context.Context, db DB, a Actor, id int64, d ReviewDecision) (Ticket, error) {
	if err := a.require(auth.RoleApprover, "confirming a cut-over"); err != nil {
		return Ticket{}, err
	}
	return decideReview(ctx, db, a, id, d, ReviewConfirmed, "restore.cutover_confirmed", func(ctx context.Context, tx pgx.Tx, t *Ticket) error {
		if t.PreparedBy == a.UserID {
			return &PermissionError{Msg: "you prepared this restore; another approver must confirm its cut-over"}
		}
		editor, err := planIsEditor(ctx, tx, t.ID, a.UserID)
		if err != nil {
			return err
		}
		if editor {
			return &PermissionError{Msg: "you prepared or submitted a version of this plan; another approver must confirm its cut-over"}
		}
		if strings.TrimSpace(d.ConfirmRef) != t.ProjectRef {
			return &ValidationError{Field: "confirm_ref", Msg: fmt.Sprintf("type the project ref %s to confirm the cut-over", t.ProjectRef)}
		}
		return nil
	})
}

// StagedReviewAbandon drops ticket id's paused restore: its job wakes, drops
// the restored copy and ends the ticket; live is not touched.
func StagedReviewAbandon(ctx context.Context, db DB, a Actor, id int64, d ReviewDecision) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "abandoning a cut-over"); err != nil {
		return Ticket{}, err
	}
	return decideReview(ctx, db, a, id, d, ReviewAbandoned, "restore.cutover_abandoned", nil)
}

func decideReview(ctx context.Context, db DB, a Actor, id int64, d ReviewDecision, to ReviewState, action string,
	check func(context.Context, pgx.Tx, *Ticket) error) (Ticket, error) {
	return change(ctx, db, a, id, action, func(tx pgx.Tx, t *Ticket) error {
		r, err := StagedReviewGet(ctx, tx, id)
		if err != nil {
			return err
		}
		if t.State != StateRunning || r.State != ReviewAwaiting || r.Digest() != d.Digest || r.Expired(time.Now()) {
			return ErrReviewChanged
		}
		if check != nil {
			if err := check(ctx, tx, t); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE ticket_staged_reviews SET state = $2, decided_by = $3, decided_at = now()
			WHERE ticket_id = $1 AND state = 'awaiting_cutover'`, id, string(to), a.UserID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrReviewChanged
		}
		// The paused job snoozes; it runs again now.
		_, err = tx.Exec(ctx, `UPDATE river_job SET scheduled_at = now() WHERE id = $1 AND state = 'scheduled'`, r.JobID)
		return err
	})
}
