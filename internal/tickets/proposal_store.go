package tickets

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/jackc/pgx/v5"
	"github.com/restoreportal/portal/internal/dbx"
	"strings"
	"time"
)

const proposalColumns = `id, ticket_id, coalesce(entry_id, 0), from_addr, reason, auth_results, project_ref, requested_at,
	requested_tz, scope, mode, plan_before, status, coalesce(decided_by, 0), decided_at, created_at`

func scanProposal(r pgx.Row) (Proposal, error) {
	var p Proposal
	var scope, before []byte
	err := r.Scan(&p.ID, &p.TicketID, &p.EntryID, &p.From, &p.Reason, &p.AuthResults, &p.ProjectRef, &p.RequestedAt,
		&p.RequestedTZ, &scope, &p.Mode, &before, &p.Status, &p.DecidedBy, &p.DecidedAt, &p.CreatedAt)
	if err = dbx.InterpretError(err, ErrProposalNotFound); err == ErrProposalNotFound {
		return Proposal{}, err
	}
	if err != nil {
		return Proposal{}, err
	}
	if len(scope) > 0 && string(scope) != "null" {
		var s Scope
		if err := json.Unmarshal(scope, &s); err != nil {
			return Proposal{}, err
		}
		p.Scope = &s
	}
	if err := json.Unmarshal(before, &p.Before); err != nil {
		return Proposal{}, err
	}
	return p, nil
}

func proposalInsert(ctx context.Context, tx pgx.Tx, p Proposal) (int64, time.Time, error) {
	var scope []byte
	if p.Scope != nil {
		scope, _ = json.Marshal(p.Scope)
	}
	before, err := json.Marshal(p.Before)
	if err != nil {
		return 0, time.Time{}, err
	}
	var id int64
	var at time.Time
	err = tx.QueryRow(ctx, `INSERT INTO ticket_proposals (ticket_id, entry_id, from_addr, reason, auth_results, project_ref,
			requested_at, requested_tz, scope, mode, plan_before)
		VALUES ($1, NULLIF($2, 0), $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id, created_at`,
		p.TicketID, p.EntryID, p.From, p.Reason, p.AuthResults, p.ProjectRef, p.RequestedAt, p.RequestedTZ, scope, p.Mode, before).Scan(&id, &at)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store proposed change: %w", err)
	}
	return id, at, nil
}

func proposalGetForUpdate(ctx context.Context, tx pgx.Tx, id int64) (Proposal, error) {
	p, err := scanProposal(tx.QueryRow(ctx, `SELECT `+proposalColumns+` FROM ticket_proposals WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return Proposal{}, fmt.Errorf("proposal %d: %w", id, err)
	}
	return p, nil
}

// ProposalGet returns one proposal.
func ProposalGet(ctx context.Context, db DB, id int64) (Proposal, error) {
	p, err := scanProposal(db.QueryRow(ctx, `SELECT `+proposalColumns+` FROM ticket_proposals WHERE id = $1`, id))
	if err != nil {
		return Proposal{}, fmt.Errorf("proposal %d: %w", id, err)
	}
	return p, nil
}

// ProposalListByTicket returns a ticket's proposals, newest first.
func ProposalListByTicket(ctx context.Context, db DB, ticketID int64) ([]Proposal, error) {
	rows, err := db.Query(ctx, `SELECT `+proposalColumns+` FROM ticket_proposals WHERE ticket_id = $1 ORDER BY id DESC`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("proposals of ticket %d: %w", ticketID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Proposal, error) { return scanProposal(r) })
}

// RequesterAliasAdd lists email as one whose mail counts as the requester's
// on the ticket (the support agent who forwarded the request, a colleague);
// why says which.
func RequesterAliasAdd(ctx context.Context, db DB, ticketID int64, email, why string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return nil
	}
	_, err := db.Exec(ctx, `INSERT INTO ticket_requester_aliases (ticket_id, email, why) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, ticketID, email, why)
	if err != nil {
		return fmt.Errorf("alias of ticket %d: %w", ticketID, err)
	}
	return nil
}

// proposalSetStatus records the decision on proposal id (decidedBy 0: none).
func proposalSetStatus(ctx context.Context, db DB, id int64, status string, decidedBy int64) error {
	_, err := db.Exec(ctx, `UPDATE ticket_proposals SET status = $2, decided_by = NULLIF($3, 0), decided_at = now() WHERE id = $1`,
		id, status, decidedBy)
	return err
}

// requesterAliasExists says whether email is listed as the requester's on
// ticket ticketID.
func requesterAliasExists(ctx context.Context, db DB, ticketID int64, email string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ticket_requester_aliases WHERE ticket_id = $1 AND email = $2)`, ticketID, email).Scan(&ok)
	return ok, err
}
