package intake

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	pmail "github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/tickets"
)

// ErrNoRecipient is returned by NoticePrepare when the ticket has nobody to
// tell: not an email ticket, or its requester is a robot or unknown.
var ErrNoRecipient = errors.New("nobody to send this notice to")

// Outbound is one notification, written once per notify job so that a retry
// sends the very same mail (same Message-ID).
type Outbound struct {
	ID        int64
	JobID     int64
	TicketID  int64
	Kind      pmail.NoticeKind
	MessageID string
	InReplyTo string
	From      string // the envelope sender
	To        string
	Subject   string
	Body      string
	Raw       []byte
	Status    string // pending, sent, not_sent
}

// NoticeConfig is the portal's side of its mail.
type NoticeConfig struct {
	From    string // PORTAL_MAIL_FROM, "Name <addr>"
	BaseURL string
	// SupportAddresses are the portal's own mailboxes: never written to,
	// so the portal cannot talk to itself.
	SupportAddresses []string
}

// NoticePrepare returns the notification of a notify job, writing (and
// storing) it on the job's first attempt.
func NoticePrepare(ctx context.Context, db DB, cfg NoticeConfig, jobID int64, args NotifyArgs) (Outbound, error) {
	if o, err := outboundGetByJob(ctx, db, jobID); err == nil || !errors.Is(err, ErrNotFound) {
		return o, err
	}
	t, err := tickets.TicketGet(ctx, db, args.TicketID)
	if err != nil {
		return Outbound{}, err
	}
	if t.Source != tickets.SourceEmail || IsRobot(t.RequesterEmail) {
		return Outbound{}, ErrNoRecipient
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return Outbound{}, fmt.Errorf("PORTAL_MAIL_FROM %q: %w", cfg.From, err)
	}
	for _, own := range append([]string{from.Address}, cfg.SupportAddresses...) {
		if strings.EqualFold(strings.TrimSpace(own), t.RequesterEmail) {
			return Outbound{}, ErrNoRecipient
		}
	}
	data, err := noticeData(ctx, db, t, args)
	if err != nil {
		return Outbound{}, err
	}
	subject, text, err := pmail.Render(args.Notice, data)
	if err != nil {
		return Outbound{}, err
	}
	inReplyTo, refs, err := threadOf(ctx, db, t.ID)
	if err != nil {
		return Outbound{}, err
	}
	domain := from.Address[strings.LastIndex(from.Address, "@")+1:]
	o := Outbound{JobID: jobID, TicketID: t.ID, Kind: args.Notice, MessageID: pmail.NewMessageID(domain), InReplyTo: inReplyTo,
		From: from.Address, To: t.RequesterEmail, Subject: subject, Body: text}
	o.Raw, err = pmail.Compose(pmail.Outgoing{From: pmail.Address{Name: from.Name, Addr: from.Address},
		To: []pmail.Address{{Name: t.RequesterName, Addr: t.RequesterEmail}}, Subject: subject, Text: text,
		MessageID: o.MessageID, InReplyTo: inReplyTo, References: refs})
	if err != nil {
		return Outbound{}, err
	}
	return outboundInsert(ctx, db, o)
}

// noticeData is what a notice shows of a ticket.
func noticeData(ctx context.Context, db DB, t tickets.Ticket, args NotifyArgs) (pmail.NoticeData, error) {
	d := pmail.NoticeData{TicketID: t.ID, RequesterName: t.RequesterName, OriginalSubject: t.Subject,
		ProjectRef: t.ProjectRef, Mode: pmail.Mode(t.Mode), Missing: args.Missing, Problems: args.Problems}
	if t.RequestedAt != nil {
		d.Time = *t.RequestedAt
	}
	if loc, err := time.LoadLocation(t.RequestedTZ); err == nil && t.RequestedTZ != "" {
		// Every time of the answer in the requester's zone, UTC beside.
		d.Zone = loc
	}
	d.Scope = pmail.Scope{Full: t.Scope.Kind != tickets.ScopeTables, Tables: t.Scope.Tables}
	// What is asked for is not shown as known: the ticket's defaults (full
	// database, new project) are not the requester's words.
	for _, f := range args.Missing {
		switch f {
		case pmail.FieldProjectRef:
			d.ProjectRef = ""
		case pmail.FieldTime:
			d.Time = time.Time{}
		case pmail.FieldScope:
			d.Scope = pmail.Scope{}
		case pmail.FieldMode:
			d.Mode = ""
		}
	}
	if t.SnapshotID != 0 && (args.Notice == pmail.NoticeSucceeded || args.Notice == pmail.NoticeStarted) {
		if s, err := tickets.SnapshotCatalog(db).SnapshotGet(ctx, t.SnapshotID); err == nil {
			d.SnapshotAt = s.TakenAt
		}
	}
	r := t.Result
	switch {
	case args.Notice == pmail.NoticeSucceeded && r != nil:
		if t.Mode == tickets.ModeNewProject {
			d.NewProjectRef = t.TargetRef()
		} else {
			d.Replaced = "the whole database of " + t.ProjectRef
			if len(r.KeptTables) > 0 || t.Scope.Kind == tickets.ScopeTables {
				d.Replaced = "the tables " + strings.Join(t.Scope.Tables, ", ") + " of " + t.ProjectRef
			}
			if r.KeptUntil != nil {
				d.KeptUntil = *r.KeptUntil
				if !r.FinishedAt.IsZero() {
					d.KeptFor = r.KeptUntil.Sub(r.FinishedAt).Round(time.Hour)
				}
			}
		}
		d.Disabled = r.DisabledSideEffects
	case args.Notice == pmail.NoticeFailed:
		if r != nil {
			d.Reason = r.Message
		}
		// The live project is only changed by the cut-over, one short
		// step that either happens whole or not at all.
		d.LiveUnchanged = true
	}
	return d, nil
}

// threadOf is the In-Reply-To and References of the ticket's next mail: the
// latest mail from the requester, and the Message-IDs of the thread.
func threadOf(ctx context.Context, db DB, ticketID int64) (inReplyTo string, refs []string, err error) {
	entries, err := tickets.EntryListByTicket(ctx, db, ticketID)
	if err != nil {
		return "", nil, err
	}
	for _, e := range entries {
		if e.MessageID == "" || (e.Kind != tickets.EntryMailIn && e.Kind != tickets.EntryMailOut) {
			continue
		}
		refs = append(refs, e.MessageID)
		if e.Kind == tickets.EntryMailIn {
			inReplyTo = e.MessageID
		}
	}
	if len(refs) > 12 { // the first and the latest are what clients use
		refs = append(refs[:1], refs[len(refs)-11:]...)
	}
	return inReplyTo, refs, nil
}

// IsRobot says whether an address belongs to a mail system rather than a
// person (or is unknown): the portal never writes to it.
func IsRobot(addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || addr == UnknownRequester || strings.HasSuffix(domain, ".invalid") || domain == "invalid" {
		return true
	}
	for _, r := range []string{"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply", "bounce", "bounces"} {
		if local == r || strings.HasPrefix(local, r+"+") || strings.HasPrefix(local, r+"-") {
			return true
		}
	}
	return false
}

// NoticeSent records a notification the relay accepted: sent, and a mail_out
// entry on the thread carrying its Message-ID, so a reply finds the ticket.
func NoticeSent(ctx context.Context, db DB, o Outbound) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		e, err := tickets.AddEntry(ctx, tx, Actor, tickets.Entry{TicketID: o.TicketID, Kind: tickets.EntryMailOut, From: o.From,
			Subject: o.Subject, Body: o.Body, MessageID: o.MessageID, InReplyTo: o.InReplyTo})
		if err != nil && !errors.Is(err, tickets.ErrDuplicateMessage) {
			return err
		}
		return outboundFinish(ctx, tx, o.ID, "sent", "", e.ID)
	})
}

// NoticeNotSent records, on the thread and in the outbound log, that a
// notification was not sent and why, with the text it would have had, so
// staff can forward it by hand.
func NoticeNotSent(ctx context.Context, db DB, o Outbound, reason string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		e, err := tickets.AddEntry(ctx, tx, Actor, tickets.Entry{TicketID: o.TicketID, Kind: tickets.EntrySystem,
			Subject: "Mail NOT sent: " + o.Subject,
			Body:    fmt.Sprintf("This %s mail to %s was not sent: %s.\n\n%s", o.Kind, o.To, reason, o.Body)})
		if err != nil {
			return err
		}
		return outboundFinish(ctx, tx, o.ID, "not_sent", reason, e.ID)
	})
}

// NoticeAttempt records a failed attempt that River will retry.
func NoticeAttempt(ctx context.Context, db DB, id int64, cause error) error {
	return outboundAttemptFailed(ctx, db, id, cause.Error())
}
