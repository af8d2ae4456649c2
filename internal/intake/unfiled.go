package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	pmail "github.com/restoreportal/portal/internal/mail"
)

// StatusFailed is the status of a stored mail that could not be filed: its
// processing failed on River's last attempt. It stays stored, raw, listed
// for staff (UnfiledList) until they retry it (MailRetry).
const StatusFailed = "failed"

// ProcessFailed records that mailID could not be filed, with the last
// error: the job that processes it calls it on its last attempt, so a mail
// never fails forever in silence. A mail filed meanwhile is left alone.
func ProcessFailed(ctx context.Context, db DB, mailID int64, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = pmail.CleanText(cause.Error())
	}
	_, err := db.Exec(ctx, `UPDATE inbound_mail SET status = 'failed', error = $2, failed_at = now()
		WHERE id = $1 AND status = 'received'`, mailID, msg)
	if err != nil {
		return fmt.Errorf("record mail %d as not filed: %w", mailID, err)
	}
	return nil
}

// ErrNotFailed is returned by MailRetry for a mail that is not failed.
var ErrNotFailed = errors.New("this mail is not waiting for a retry")

// stranded is the SQL condition of a mail still 'received' whose processing
// job has ended without filing it: a worker that died on the last attempt,
// or a job cancelled by hand. Such mail is listed and retried like a failed
// one, so nothing is lost even when ProcessFailed never ran.
const stranded = `(m.status = 'received' AND NOT EXISTS (SELECT 1 FROM river_job j
		WHERE j.kind = 'mail_process' AND (j.args->>'mail_id')::bigint = m.id
			AND j.state NOT IN ('discarded', 'cancelled', 'completed'))
	AND EXISTS (SELECT 1 FROM river_job j
		WHERE j.kind = 'mail_process' AND (j.args->>'mail_id')::bigint = m.id AND j.state IN ('discarded', 'cancelled')))`

// MailRetry queues a failed mail's processing again (after a fix, say).
func MailRetry(ctx context.Context, db DB, jobs JobInserter, mailID int64) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE inbound_mail m SET status = 'received', retries = retries + 1
			WHERE id = $1 AND (status = 'failed' OR `+stranded+`)`, mailID)
		if err != nil {
			return fmt.Errorf("retry mail %d: %w", mailID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("mail %d: %w", mailID, ErrNotFailed)
		}
		if _, err := jobs.InsertTx(ctx, tx, ProcessArgs{MailID: mailID}, nil); err != nil {
			return fmt.Errorf("queue processing of mail %d: %w", mailID, err)
		}
		return nil
	})
}

// Unfiled is a stored mail that could not be filed, as staff see it.
type Unfiled struct {
	ID         int64
	From       string // envelope sender
	MessageID  string
	Subject    string // read from the raw mail, best effort
	Error      string
	Retries    int
	ReceivedAt time.Time
	FailedAt   time.Time
	Size       int
}

// UnfiledList returns the mail that could not be filed, newest first: the
// failed, and the stranded (their job ended without filing them).
func UnfiledList(ctx context.Context, db DB, limit int) ([]Unfiled, error) {
	if limit <= 0 {
		limit = 200
	}
	rows, err := db.Query(ctx, `SELECT m.id, m.envelope_from, m.message_id,
			CASE WHEN m.status = 'failed' THEN m.error ELSE coalesce((SELECT 'its processing job ended without filing it: ' ||
				coalesce(j.errors[array_length(j.errors, 1)]->>'error', j.state::text) FROM river_job j
				WHERE j.kind = 'mail_process' AND (j.args->>'mail_id')::bigint = m.id ORDER BY j.id DESC LIMIT 1), '') END,
			m.retries, m.received_at, coalesce(m.failed_at, m.received_at), m.raw
		FROM inbound_mail m WHERE m.status = 'failed' OR `+stranded+` ORDER BY m.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("mail not filed: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Unfiled, error) {
		var u Unfiled
		var raw []byte
		if err := r.Scan(&u.ID, &u.From, &u.MessageID, &u.Error, &u.Retries, &u.ReceivedAt, &u.FailedAt, &raw); err != nil {
			return Unfiled{}, err
		}
		u.Size = len(raw)
		if m := parse(raw); m != nil {
			u.Subject = m.Subject
		}
		return u, nil
	})
}
