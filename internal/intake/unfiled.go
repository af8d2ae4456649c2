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
	if err := inboundSetFailed(ctx, db, mailID, msg); err != nil {
		return fmt.Errorf("record mail %d as not filed: %w", mailID, err)
	}
	return nil
}

// ErrNotFailed is returned by MailRetry for a mail that is not failed.
var ErrNotFailed = errors.New("this mail is not waiting for a retry")

// MailRetry queues a failed mail's processing again (after a fix, say).
func MailRetry(ctx context.Context, db DB, jobs JobInserter, mailID int64) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		requeued, err := inboundRequeueUnfiled(ctx, tx, mailID)
		if err != nil {
			return fmt.Errorf("retry mail %d: %w", mailID, err)
		}
		if !requeued {
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
	rows, err := inboundListUnfiled(ctx, db, limit)
	if err != nil {
		return nil, fmt.Errorf("mail not filed: %w", err)
	}
	out := make([]Unfiled, 0, len(rows))
	for _, r := range rows {
		u := r.Unfiled
		u.Size = len(r.raw)
		if m := parse(r.raw); m != nil {
			u.Subject = m.Subject
		}
		out = append(out, u)
	}
	return out, nil
}
