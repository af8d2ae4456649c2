package intake

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// SQL of the intake package's outbound mail: outbound_mail, one row a
// notification job.

// outboundAttemptFailed counts a failed attempt to send outbound mail id.
func outboundAttemptFailed(ctx context.Context, db DB, id int64, reason string) error {
	_, err := db.Exec(ctx, `UPDATE outbound_mail SET attempts = attempts + 1, error = $2 WHERE id = $1`, id, reason)
	return err
}

func outboundFinish(ctx context.Context, tx pgx.Tx, id int64, status, reason string, entryID int64) error {
	_, err := tx.Exec(ctx, `UPDATE outbound_mail SET status = $2, error = $3, entry_id = NULLIF($4, 0), attempts = attempts + 1,
		sent_at = CASE WHEN $2 = 'sent' THEN now() END WHERE id = $1`, id, status, reason, entryID)
	if err != nil {
		return fmt.Errorf("outbound mail %d: %w", id, err)
	}
	return nil
}

const outboundColumns = `id, job_id, ticket_id, kind, message_id, in_reply_to, from_addr, to_addr, subject, body, raw, status`

func scanOutbound(r pgx.Row) (Outbound, error) {
	var o Outbound
	err := r.Scan(&o.ID, &o.JobID, &o.TicketID, &o.Kind, &o.MessageID, &o.InReplyTo, &o.From, &o.To, &o.Subject, &o.Body, &o.Raw, &o.Status)
	if err != nil {
		return Outbound{}, dbx.InterpretError(err, ErrNotFound)
	}
	return o, nil
}

func outboundGetByJob(ctx context.Context, db DB, jobID int64) (Outbound, error) {
	o, err := scanOutbound(db.QueryRow(ctx, `SELECT `+outboundColumns+` FROM outbound_mail WHERE job_id = $1`, jobID))
	if err != nil {
		return Outbound{}, fmt.Errorf("outbound mail of job %d: %w", jobID, err)
	}
	return o, nil
}

func outboundInsert(ctx context.Context, db DB, o Outbound) (Outbound, error) {
	out, err := scanOutbound(db.QueryRow(ctx, `INSERT INTO outbound_mail (job_id, ticket_id, kind, message_id, in_reply_to, from_addr,
			to_addr, subject, body, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (job_id) DO UPDATE SET job_id = EXCLUDED.job_id
		RETURNING `+outboundColumns, o.JobID, o.TicketID, o.Kind, o.MessageID, o.InReplyTo, o.From, o.To, o.Subject, o.Body, o.Raw))
	if err != nil {
		return Outbound{}, fmt.Errorf("store outbound mail: %w", err)
	}
	return out, nil
}

// OutboundListByTicket returns a ticket's notifications, oldest first.
func OutboundListByTicket(ctx context.Context, db DB, ticketID int64) ([]Outbound, error) {
	rows, err := db.Query(ctx, `SELECT `+outboundColumns+` FROM outbound_mail WHERE ticket_id = $1 ORDER BY id`, ticketID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Outbound, error) { return scanOutbound(r) })
}
