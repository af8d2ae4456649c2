package intake

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/mail"
)

// How a mail reached the portal.
const (
	ViaSMTP = "smtp"
	ViaHTTP = "http"
)

// Delivery says what Deliver did with a mail.
type Delivery struct {
	MailID    int64 // 0 for a duplicate
	Duplicate bool  // the same mail (same Message-ID, or same bytes) was stored before
}

// Deliver stores a raw mail and queues its processing in one transaction.
// It is the only thing that must succeed before a sender is told the mail
// was accepted: the bytes are stored as they came, whatever their shape. A
// mail already stored (same Message-ID, or the same bytes when it has none)
// is not stored again and Deliver returns no error, so a sender that retries
// after a lost answer does not make a second ticket.
func Deliver(ctx context.Context, db DB, jobs JobInserter, via string, env mail.Envelope, raw []byte) (Delivery, error) {
	key, messageID := dedupeKey(raw)
	// The envelope is text columns: a NUL or a bad byte in HELO or MAIL FROM
	// must not turn a mail away (the raw bytes keep everything).
	env.From, env.Helo, env.RemoteAddr = mail.CleanText(env.From), mail.CleanText(env.Helo), mail.CleanText(env.RemoteAddr)
	to := make([]string, 0, len(env.To))
	for _, a := range env.To {
		to = append(to, mail.CleanText(a))
	}
	env.To = to
	messageID = mail.CleanText(messageID)
	var d Delivery
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		id, ok, err := inboundInsert(ctx, tx, key, via, messageID, env, raw)
		if err != nil || !ok {
			d.Duplicate = !ok
			return err
		}
		d.MailID = id
		if _, err := jobs.InsertTx(ctx, tx, ProcessArgs{MailID: id}, nil); err != nil {
			return fmt.Errorf("queue processing of mail %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return Delivery{}, err
	}
	return d, nil
}

// dedupeKey names the mail for deduplication. Reading the Message-ID needs a
// parse; should the parser fail or panic on a strange mail, the key falls
// back to the hash of the bytes, so the mail is stored all the same.
func dedupeKey(raw []byte) (key, messageID string) {
	defer func() {
		if recover() != nil {
			key, messageID = mail.DedupeKey(&mail.Message{}, raw), ""
		}
	}()
	m, err := mail.Parse(raw)
	if err != nil || m == nil {
		m = &mail.Message{}
	}
	return mail.DedupeKey(m, raw), m.MessageID
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
