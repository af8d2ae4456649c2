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
		if err := refuseEditor(ctx, tx, t, a, "confirm its cut-over"); err != nil {
			return err
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
		decided, err := stagedReviewDecide(ctx, tx, id, to, a.UserID)
		if err != nil {
			return err
		}
		if !decided {
			return ErrReviewChanged
		}
		// The paused job snoozes; it runs again now.
		return stagedReviewWakeJob(ctx, tx, r.JobID)
	})
}
