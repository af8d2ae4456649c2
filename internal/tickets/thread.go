package tickets

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/mail"
)

// SubjectTag is the tag put in the subject of every mail about a ticket, so a
// reply finds its ticket even when its headers were lost. It is mail's
// ("[Restore #123]"): one tag, one parser.
func SubjectTag(id int64) string { return mail.SubjectTag(id) }

// ParseSubjectTag returns the ticket id of a subject carrying SubjectTag.
func ParseSubjectTag(subject string) (int64, bool) { return mail.ParseSubjectTag(subject) }

// FindByMessageID returns the ticket whose thread holds a mail with one of
// the given Message-IDs (In-Reply-To and References of a reply); angle
// brackets are ignored. ErrNotFound when none does.
func FindByMessageID(ctx context.Context, db DB, messageIDs ...string) (Ticket, error) {
	var ids []string
	for _, id := range messageIDs {
		if id = normalizeMessageID(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return Ticket{}, ErrNotFound
	}
	tid, err := ticketIDByMessageID(ctx, db, ids)
	if err != nil {
		return Ticket{}, err
	}
	return TicketGet(ctx, db, tid)
}

func normalizeMessageID(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "<"), ">")
}

// AddEntry appends a mail or note to a ticket's thread. A mail whose
// Message-ID is already in a thread returns ErrDuplicateMessage, so intake
// can be retried safely.
func AddEntry(ctx context.Context, db DB, a Actor, e Entry) (Entry, error) {
	switch e.Kind {
	case EntryMailIn, EntryMailOut, EntryNote, EntrySystem:
	default:
		return Entry{}, &ValidationError{Field: "kind", Msg: fmt.Sprintf("%q is not a thread entry kind", e.Kind)}
	}
	if e.Kind == EntryNote {
		if err := a.require(auth.RoleOperator, "adding a note"); err != nil {
			return Entry{}, err
		}
		if strings.TrimSpace(e.Body) == "" {
			return Entry{}, &ValidationError{Field: "body", Msg: "write something"}
		}
	}
	e.MessageID = normalizeMessageID(e.MessageID)
	e.InReplyTo = normalizeMessageID(e.InReplyTo)
	e.AuthorID = a.UserID
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := ticketGetForUpdate(ctx, tx, e.TicketID); err != nil {
			return err
		}
		id, err := entryInsert(ctx, tx, e)
		if err != nil {
			return err
		}
		e.ID = id
		if err := ticketTouch(ctx, tx, e.TicketID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a.audit(), audit.Entry{Action: "ticket.entry_added", TicketID: e.TicketID,
			After: map[string]any{"kind": e.Kind, "entry_id": id, "message_id": e.MessageID}})
	})
	if err != nil {
		return Entry{}, err
	}
	return e, nil
}
