package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
	"github.com/restoreportal/portal/internal/mail"
)

// SQL of the intake package: inbound_mail and ticket_mail_requests.

// ErrNotFound is returned when a stored mail does not exist.
var ErrNotFound = dbx.NotFound("mail not found")

// inbound is one stored mail.
type inbound struct {
	ID       int64
	Raw      []byte
	Via      string
	Envelope mail.Envelope
	Status   string
}

// InboundInsert stores a mail unless one with the same dedupe key is stored;
// ok is false for such a duplicate.
func inboundInsert(ctx context.Context, tx pgx.Tx, key, via, messageID string, env mail.Envelope, raw []byte) (id int64, ok bool, err error) {
	to := env.To
	if to == nil {
		to = []string{}
	}
	err = tx.QueryRow(ctx, `INSERT INTO inbound_mail (dedupe_key, raw, via, envelope_from, envelope_to, remote_addr, helo,
			message_id, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()))
		ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
		key, raw, via, env.From, to, env.RemoteAddr, env.Helo, messageID, nullTime(env.ReceivedAt)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store mail: %w", err)
	}
	return id, true, nil
}

// inboundGetForUpdate locks a stored mail for its processing.
func inboundGetForUpdate(ctx context.Context, tx pgx.Tx, id int64) (inbound, error) {
	m := inbound{ID: id}
	err := tx.QueryRow(ctx, `SELECT raw, via, envelope_from, envelope_to, remote_addr, helo, received_at, status
		FROM inbound_mail WHERE id = $1 FOR UPDATE`, id).Scan(&m.Raw, &m.Via, &m.Envelope.From, &m.Envelope.To,
		&m.Envelope.RemoteAddr, &m.Envelope.Helo, &m.Envelope.ReceivedAt, &m.Status)
	if err = dbx.InterpretError(err, ErrNotFound); err == ErrNotFound {
		return inbound{}, fmt.Errorf("mail %d: %w", id, err)
	}
	if err != nil {
		return inbound{}, fmt.Errorf("mail %d: %w", id, err)
	}
	return m, nil
}

// inboundMarkProcessed records what became of a mail.
func inboundMarkProcessed(ctx context.Context, tx pgx.Tx, id int64, r Result, automatic bool, problems []string) error {
	if problems == nil {
		problems = []string{}
	}
	_, err := tx.Exec(ctx, `UPDATE inbound_mail SET status = 'processed', outcome = $2, automatic = $3, problems = $4,
			ticket_id = NULLIF($5, 0), entry_id = NULLIF($6, 0), processed_at = now()
		WHERE id = $1`, id, r.Outcome, automatic, problems, r.TicketID, r.EntryID)
	if err != nil {
		return fmt.Errorf("mark mail %d processed: %w", id, err)
	}
	return nil
}

// inboundPendingWithMessageID says whether another stored mail with one of
// ids is still waiting for its processing (a reply that overtook the mail it
// answers).
func inboundPendingWithMessageID(ctx context.Context, db DB, self int64, ids []string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inbound_mail
		WHERE message_id = ANY($1) AND message_id <> '' AND status = 'received' AND id <> $2)`, ids, self).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("pending parent mail: %w", err)
	}
	return ok, nil
}

// requestGetForUpdate returns what was understood so far of an email
// ticket's request, locked; ok is false when the ticket has none (it was not
// made from a mail).
func requestGetForUpdate(ctx context.Context, tx pgx.Tx, ticketID int64) (r mail.Request, ok bool, err error) {
	var b []byte
	err = tx.QueryRow(ctx, `SELECT request FROM ticket_mail_requests WHERE ticket_id = $1 FOR UPDATE`, ticketID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return mail.Request{}, false, nil
	}
	if err != nil {
		return mail.Request{}, false, fmt.Errorf("request of ticket %d: %w", ticketID, err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return mail.Request{}, false, fmt.Errorf("request of ticket %d: %w", ticketID, err)
	}
	return r, true, nil
}

// requestPut stores what is understood of an email ticket's request.
func requestPut(ctx context.Context, tx pgx.Tx, ticketID int64, r mail.Request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO ticket_mail_requests (ticket_id, request) VALUES ($1, $2)
		ON CONFLICT (ticket_id) DO UPDATE SET request = EXCLUDED.request, updated_at = now()`, ticketID, b)
	if err != nil {
		return fmt.Errorf("store request of ticket %d: %w", ticketID, err)
	}
	return nil
}

// MailStatus is what became of a stored mail, for tests and the operators.
type MailStatus struct {
	ID        int64
	Status    string
	Outcome   string
	Automatic bool
	Problems  []string
	TicketID  int64
	EntryID   int64
	Error     string // why it could not be filed (status failed)
}

// MailGet returns the processing status of a stored mail.
func MailGet(ctx context.Context, db DB, id int64) (MailStatus, error) {
	s := MailStatus{ID: id}
	err := db.QueryRow(ctx, `SELECT status, outcome, automatic, problems, coalesce(ticket_id, 0), coalesce(entry_id, 0), error
		FROM inbound_mail WHERE id = $1`, id).Scan(&s.Status, &s.Outcome, &s.Automatic, &s.Problems, &s.TicketID, &s.EntryID, &s.Error)
	if err = dbx.InterpretError(err, ErrNotFound); err == ErrNotFound {
		return MailStatus{}, fmt.Errorf("mail %d: %w", id, err)
	}
	if err != nil {
		return MailStatus{}, fmt.Errorf("mail %d: %w", id, err)
	}
	return s, nil
}
