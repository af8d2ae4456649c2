package tickets

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// SQL of plan versions and approvals (migration 0010).

// PlanRecord is one row of a ticket's plan history: a version prepared, or
// submitted for approval, and by whom.
type PlanRecord struct {
	ID          int64
	TicketID    int64
	Action      string // "prepared" or "submitted"
	Digest      string
	Plan        Plan
	AuthorID    int64
	AuthorEmail string
	CreatedAt   time.Time
}

const (
	planPrepared  = "prepared"
	planSubmitted = "submitted"
)

func planInsert(ctx context.Context, tx pgx.Tx, ticketID int64, action string, p Plan, authorID int64) (PlanRecord, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return PlanRecord{}, err
	}
	r := PlanRecord{TicketID: ticketID, Action: action, Digest: p.Digest(), Plan: p, AuthorID: authorID}
	err = tx.QueryRow(ctx, `INSERT INTO ticket_plans (ticket_id, action, digest, plan, author_id) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, created_at`, ticketID, action, r.Digest, b, authorID).Scan(&r.ID, &r.CreatedAt)
	if err != nil {
		return PlanRecord{}, fmt.Errorf("record plan of ticket %d: %w", ticketID, err)
	}
	return r, nil
}

const planColumns = `p.id, p.ticket_id, p.action, p.digest, p.plan, p.author_id, coalesce(u.email, ''), p.created_at`

func scanPlan(r pgx.Row) (PlanRecord, error) {
	var pr PlanRecord
	var b []byte
	err := r.Scan(&pr.ID, &pr.TicketID, &pr.Action, &pr.Digest, &b, &pr.AuthorID, &pr.AuthorEmail, &pr.CreatedAt)
	if err = dbx.InterpretError(err, ErrNotFound); err == ErrNotFound {
		return PlanRecord{}, err
	}
	if err != nil {
		return PlanRecord{}, err
	}
	if err := json.Unmarshal(b, &pr.Plan); err != nil {
		return PlanRecord{}, fmt.Errorf("plan %d: %w", pr.ID, err)
	}
	return pr, nil
}

// PlanHistory returns every version of a ticket's plan, oldest first.
func PlanHistory(ctx context.Context, db DB, ticketID int64) ([]PlanRecord, error) {
	rows, err := db.Query(ctx, `SELECT `+planColumns+` FROM ticket_plans p LEFT JOIN users u ON u.id = p.author_id
		WHERE p.ticket_id = $1 ORDER BY p.id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("plans of ticket %d: %w", ticketID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PlanRecord, error) { return scanPlan(r) })
}

// planLatest returns the newest record of the action, or ErrNotFound.
func planLatest(ctx context.Context, db DB, ticketID int64, action string) (PlanRecord, error) {
	return scanPlan(db.QueryRow(ctx, `SELECT `+planColumns+` FROM ticket_plans p LEFT JOIN users u ON u.id = p.author_id
		WHERE p.ticket_id = $1 AND p.action = $2 ORDER BY p.id DESC LIMIT 1`, ticketID, action))
}

// planByDigest returns the newest record of a digest, or ErrNotFound.
func planByDigest(ctx context.Context, db DB, ticketID int64, digest string) (PlanRecord, error) {
	return scanPlan(db.QueryRow(ctx, `SELECT `+planColumns+` FROM ticket_plans p LEFT JOIN users u ON u.id = p.author_id
		WHERE p.ticket_id = $1 AND p.digest = $2 ORDER BY p.id DESC LIMIT 1`, ticketID, digest))
}

// planIsEditor says whether the user prepared or submitted any version of
// the ticket's plan.
func planIsEditor(ctx context.Context, db DB, ticketID, userID int64) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ticket_plans WHERE ticket_id = $1 AND author_id = $2)`, ticketID, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("plan editors of ticket %d: %w", ticketID, err)
	}
	return ok, nil
}

// PlanEditor says whether userID prepared or submitted any version of the
// ticket's plan, and so may never approve it (nor request its rollback).
func PlanEditor(ctx context.Context, db DB, ticketID, userID int64) (bool, error) {
	return planIsEditor(ctx, db, ticketID, userID)
}

// submittedAwaiting lists tickets awaiting approval whose latest submission
// is older than ttl.
func submittedAwaiting(ctx context.Context, db DB, ttl time.Duration) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT t.id FROM tickets t
		WHERE t.state = 'awaiting_approval' AND coalesce((SELECT max(created_at) FROM ticket_plans p
			WHERE p.ticket_id = t.id AND p.action = 'submitted'), '-infinity') < now() - $1 * interval '1 second'
		ORDER BY t.id`, ttl.Seconds())
	if err != nil {
		return nil, fmt.Errorf("lapsed approval requests: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func approvalInsert(ctx context.Context, tx pgx.Tx, ticketID, userID int64, confirmRef, kind, digest string) error {
	_, err := tx.Exec(ctx, `INSERT INTO approvals (ticket_id, user_id, confirm_ref, kind, plan_digest) VALUES ($1, $2, $3, $4, $5)`,
		ticketID, userID, confirmRef, kind, digest)
	if err != nil {
		return fmt.Errorf("insert approval: %w", err)
	}
	return nil
}
