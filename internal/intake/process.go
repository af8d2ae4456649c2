package intake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	pmail "github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/tickets"
)

// Actor is how intake appears in the audit trail.
var Actor = tickets.SystemActor("mail intake")

// ErrParentPending is returned by Process for a reply whose parent mail is
// stored but not processed yet: the caller should try again shortly, so the
// reply joins the ticket its parent is about to make.
var ErrParentPending = errors.New("the mail this one answers is not processed yet")

// Deps is what Process needs.
type Deps struct {
	DB   DB
	Jobs JobInserter
	Log  *slog.Logger
	// Now, for tests; nil means time.Now.
	Now func() time.Time
	// NoWait files a reply even when the mail it answers is still waiting
	// (Process returns ErrParentPending otherwise): for a reply that waited
	// long enough.
	NoWait bool
	// Forwarders are the addresses and @domains of staff and agents who
	// forward customers' mail (PORTAL_MAIL_FORWARDERS): the sender of the
	// mail they forward is the requester.
	Forwarders []string
	// RequireDMARC refuses field changes from mail whose DMARC check failed
	// at the receiving server (PORTAL_MAIL_REQUIRE_DMARC).
	RequireDMARC bool

	refs *refCache
}

// NewDeps builds Deps with a fresh cache of project refs.
func NewDeps(db DB, jobs JobInserter, log *slog.Logger) Deps {
	return Deps{DB: db, Jobs: jobs, Log: cmp.Or(log, slog.New(slog.DiscardHandler)), refs: &refCache{}}
}

// Outcomes of Process.
const (
	OutcomeNewTicket          = "new_ticket"
	OutcomeReply              = "reply"
	OutcomeAutomatic          = "automatic"
	OutcomeAutomaticUnmatched = "automatic_unmatched"
	OutcomeLoop               = "loop" // the Message-ID is already in a thread (our own mail came back)
)

// Result says what became of a mail.
type Result struct {
	Outcome  string
	TicketID int64
	EntryID  int64
}

type processor struct {
	d   Deps
	tx  pgx.Tx
	id  int64
	env pmail.Envelope
}

func (p *processor) now() time.Time {
	if p.d.Now != nil {
		return p.d.Now()
	}
	return time.Now()
}

// Process files the stored mail mailID: a new ticket, an entry in an
// existing thread, or (automatic mail with no ticket) only a record. It runs
// in one transaction with the answers it queues and the mail's status, so a
// retry after a failure starts afresh, and a mail already processed is left
// alone.
func Process(ctx context.Context, d Deps, mailID int64) (Result, error) {
	if d.refs == nil {
		d.refs = &refCache{}
	}
	var res Result
	err := pgx.BeginFunc(ctx, d.DB, func(tx pgx.Tx) error {
		in, err := inboundGetForUpdate(ctx, tx, mailID)
		if err != nil {
			return err
		}
		if in.Status == "processed" {
			st, err := MailGet(ctx, tx, mailID)
			res = Result{Outcome: st.Outcome, TicketID: st.TicketID, EntryID: st.EntryID}
			return err
		}
		p := &processor{d: d, tx: tx, id: mailID, env: in.Envelope}
		msg := parse(in.Raw)
		res, err = p.fileSafely(ctx, msg)
		if err != nil {
			return err
		}
		return inboundMarkProcessed(ctx, tx, mailID, res, msg.IsAutomatic, msg.Problems)
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// parse reads what it can; nothing at all (or a parser panic) still gives a
// Message whose Problems say so.
func parse(raw []byte) (msg *pmail.Message) {
	defer func() {
		if r := recover(); r != nil {
			msg = &pmail.Message{Problems: []string{fmt.Sprintf("the mail could not be read at all (%v); its raw text is stored", r)}}
		}
	}()
	m, err := pmail.Parse(raw)
	if err != nil || m == nil {
		return &pmail.Message{Problems: []string{fmt.Sprintf("the mail could not be read: %v; its raw text is stored", err)}}
	}
	return m
}

// fileSafely is file with a panic turned into an error, so that the last
// attempt of a mail that always panics is recorded as failed too.
func (p *processor) fileSafely(ctx context.Context, msg *pmail.Message) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("filing mail %d panicked: %v", p.id, r)
		}
	}()
	return p.file(ctx, msg)
}

func (p *processor) file(ctx context.Context, msg *pmail.Message) (Result, error) {
	t, _, err := p.findTicket(ctx, msg)
	switch {
	case errors.Is(err, tickets.ErrNotFound):
		if msg.IsAutomatic {
			p.d.Log.Info("automatic mail matches no ticket; recorded only", "mail_id", p.id, "reason", msg.AutomaticReason)
			return Result{Outcome: OutcomeAutomaticUnmatched}, nil
		}
		return p.newTicket(ctx, msg)
	case err != nil:
		return Result{}, err
	}
	return p.reply(ctx, msg, t)
}

// findTicket finds the ticket a mail is about: by its In-Reply-To and
// References (and, in a bounce, the Message-ID of the mail it reports on),
// then by the subject tag.
func (p *processor) findTicket(ctx context.Context, msg *pmail.Message) (t tickets.Ticket, bySubjectOnly bool, err error) {
	var ids []string
	for _, id := range append([]string{msg.InReplyTo, msg.ReportedMessageID}, msg.References...) {
		if id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		// Pending first: a parent that commits between the two statements
		// is then found by the second (each statement sees the latest
		// commits).
		pending, err := inboundPendingWithMessageID(ctx, p.tx, p.id, ids)
		if err != nil {
			return tickets.Ticket{}, false, err
		}
		t, err := tickets.FindByMessageID(ctx, p.tx, ids...)
		if err == nil || !errors.Is(err, tickets.ErrNotFound) {
			return t, false, err
		}
		if pending && !p.d.NoWait {
			return tickets.Ticket{}, false, ErrParentPending
		}
	}
	if id, ok := pmail.ParseSubjectTag(msg.Subject); ok {
		t, err := tickets.TicketGet(ctx, p.tx, id)
		return t, true, err
	}
	return tickets.Ticket{}, false, tickets.ErrNotFound
}

// entry is the thread entry of an inbound mail: what the sender wrote this
// time, its attachments and what could not be read.
func entry(msg *pmail.Message, env pmail.Envelope) tickets.Entry {
	text := pmail.StripQuoted(msg.Text)
	if strings.TrimSpace(text) == "" {
		text = msg.Text
	}
	var b strings.Builder
	if msg.IsAutomatic {
		fmt.Fprintf(&b, "[automatic mail: %s; not answered]\n\n", cmp.Or(msg.AutomaticReason, "automatic"))
	}
	if v := pmail.ParseAuthResults(msg.AuthResults).String(); v != "" {
		fmt.Fprintf(&b, "[sender checks by the receiving server: %s]\n\n", v)
	}
	b.WriteString(strings.TrimSpace(text))
	if len(msg.Attachments) > 0 {
		b.WriteString("\n\nAttachments (recorded, not opened):")
		for _, a := range msg.Attachments {
			fmt.Fprintf(&b, "\n- %s (%s, %d bytes)", cmp.Or(a.Filename, "unnamed"), a.ContentType, a.Size)
		}
	}
	if len(msg.Problems) > 0 {
		b.WriteString("\n\nCould not be read:")
		for _, pr := range msg.Problems {
			fmt.Fprintf(&b, "\n- %s", pr)
		}
	}
	from := msg.From.String()
	if msg.From.Addr == "" {
		from = env.From
	}
	return tickets.Entry{Kind: tickets.EntryMailIn, From: from, Subject: msg.Subject, Body: b.String(),
		MessageID: msg.MessageID, InReplyTo: msg.InReplyTo}
}

// reply records a mail on its ticket's thread. Only the requester's mail
// (or a listed alias's: the agent who forwarded the request, a colleague)
// changes a request, and only while the ticket is in triage; otherwise what
// the mail asks for that differs from the ticket becomes a proposal staff
// accept or dismiss. A mail from anyone else is flagged on its entry.
//
// Who the sender is decides, not how the mail threads: a subject tag is easy
// to copy, and so are In-Reply-To and References.
func (p *processor) reply(ctx context.Context, msg *pmail.Message, t tickets.Ticket) (Result, error) {
	sender, isReq, err := p.requesterOf(ctx, msg, t)
	if err != nil {
		return Result{}, err
	}
	auth := pmail.ParseAuthResults(msg.AuthResults)
	var why string
	switch {
	case !isReq:
		why = fmt.Sprintf("not from the requester (%s)", sender)
	case p.d.RequireDMARC && auth.DMARCFailed():
		why = "the mail failed DMARC at the receiving server"
	case t.State != tickets.StateNew && t.State != tickets.StateNeedsInfo:
		why = "the ticket is " + t.State.Label() + ": its plan is staff's"
	}
	e := entry(msg, p.env)
	e.TicketID = t.ID
	if why != "" && !msg.IsAutomatic {
		e.Body = fmt.Sprintf("[fields not changed: %s]\n\n", why) + e.Body
	}
	e, err = tickets.AddEntry(ctx, p.tx, Actor, e)
	if errors.Is(err, tickets.ErrDuplicateMessage) {
		p.d.Log.Warn("mail's Message-ID is already in a thread; not filed again", "mail_id", p.id, "ticket_id", t.ID)
		return Result{Outcome: OutcomeLoop, TicketID: t.ID}, nil
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Outcome: OutcomeReply, TicketID: t.ID, EntryID: e.ID}
	if msg.IsAutomatic {
		res.Outcome = OutcomeAutomatic
		return res, nil
	}
	if !t.State.Open() {
		return res, nil
	}
	newer, err := p.understand(ctx, msg, t.ProjectRef)
	if err != nil {
		return Result{}, err
	}
	if why != "" {
		// Only what this mail says, against the ticket as it is.
		u, err := p.check(ctx, newer)
		if err != nil {
			return Result{}, err
		}
		_, _, err = tickets.ProposeFromMail(ctx, p.tx, Actor, t.ID, e.ID, sender, why, auth.String(), p.mailRequest(u, ""))
		return res, err
	}
	old, ok, err := requestGetForUpdate(ctx, p.tx, t.ID)
	if err != nil || !ok {
		return res, err
	}
	u, err := p.check(ctx, old.Update(newer))
	if err != nil {
		return Result{}, err
	}
	if err := requestPut(ctx, p.tx, t.ID, u.Request); err != nil {
		return Result{}, err
	}
	updated, err := tickets.UpdateFromMail(ctx, p.tx, Actor, t.ID, keepUnknownRef(p.mailRequest(u, note(u, msg, "Updated from the requester's reply:")), u))
	if err != nil {
		return Result{}, err
	}
	switch {
	case len(u.Missing) > 0:
		err = Notify(ctx, p.tx, p.d.Jobs, NotifyArgs{TicketID: t.ID, Notice: pmail.NoticeNeedsInfo, Missing: u.Missing, Problems: u.Problems})
	case t.State == tickets.StateNeedsInfo && updated.State == tickets.StateNew:
		err = Notify(ctx, p.tx, p.d.Jobs, NotifyArgs{TicketID: t.ID, Notice: pmail.NoticeAcknowledged})
	}
	return res, err
}

// requesterOf is who a reply is from, and whether that counts as the
// ticket's requester: the From (or Reply-To) is the requester or a listed
// alias, or a forwarder forwards the requester's own mail.
func (p *processor) requesterOf(ctx context.Context, msg *pmail.Message, t tickets.Ticket) (sender string, ok bool, err error) {
	sender = strings.ToLower(cmp.Or(msg.From.Addr, msg.ReplyAddress().Addr, p.env.From))
	for _, a := range []string{msg.From.Addr, msg.ReplyAddress().Addr} {
		if ok, err := tickets.IsRequester(ctx, p.tx, t, a); err != nil || ok {
			return sender, ok, err
		}
	}
	if p.isForwarder(sender) {
		if orig, fwd := msg.ForwardedFrom(); fwd {
			ok, err := tickets.IsRequester(ctx, p.tx, t, orig.Addr)
			return sender, ok, err
		}
	}
	return sender, false, nil
}

// isForwarder says whether addr is one of Deps.Forwarders ("agent@x" or
// "@x" for a whole domain).
func (p *processor) isForwarder(addr string) bool {
	return IsForwarder(p.d.Forwarders, addr)
}

// IsForwarder says whether addr matches the list: an address, or "@domain"
// for every address of a domain (case-insensitive).
func IsForwarder(list []string, addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	_, domain, ok := strings.Cut(addr, "@")
	if !ok || domain == "" {
		return false
	}
	for _, f := range list {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if f == addr || strings.HasPrefix(f, "@") && f[1:] == domain {
			return true
		}
	}
	return false
}

// newTicket makes an email ticket of a mail, with what was understood, and
// queues the answer: an acknowledgement, or the questions.
func (p *processor) newTicket(ctx context.Context, msg *pmail.Message) (Result, error) {
	req, err := p.understand(ctx, msg, "")
	if err != nil {
		return Result{}, err
	}
	u, err := p.check(ctx, req)
	if err != nil {
		return Result{}, err
	}
	mr := keepUnknownRef(p.mailRequest(u, ""), u)
	e := entry(msg, p.env)
	reqEmail, reqName := requester(msg, p.env), msg.ReplyAddress().Name
	var agent string
	if orig, ok := msg.ForwardedFrom(); ok && p.isForwarder(reqEmail) && !p.isForwarder(orig.Addr) {
		// A support agent forwarded the customer's mail: the ticket is the
		// customer's, the answers go to them, the agent is on the entry.
		agent, reqEmail, reqName = reqEmail, orig.Addr, orig.Name
		e.Body = fmt.Sprintf("[forwarded by %s for %s]\n\n", agent, orig) + e.Body
	}
	n := tickets.NewTicket{Source: tickets.SourceEmail, Subject: msg.Subject, RequesterEmail: reqEmail,
		RequesterName: reqName, ProjectRef: mr.ProjectRef, RequestedAt: mr.RequestedAt,
		RequestedTZ: mr.RequestedTZ, Scope: mr.Scope, Mode: mr.Mode, Mail: &e}
	// With the catalog, Create suggests the snapshot the time resolves to.
	cat := tickets.SnapshotCatalog(p.tx)
	t, err := tickets.Create(ctx, p.tx, cat, Actor, n)
	var ve *tickets.ValidationError
	if errors.As(err, &ve) {
		// Something understood does not fit a ticket: keep the mail and
		// ask, rather than lose the request.
		u.Problems = append(u.Problems, fmt.Sprintf("%s could not be used (%s)", ve.Field, ve.Msg))
		u.Missing = addField(u.Missing, fieldOf(ve.Field))
		n.ProjectRef, n.RequestedAt, n.RequestedTZ, n.Scope, n.Mode = "", nil, "", tickets.Scope{}, ""
		t, err = tickets.Create(ctx, p.tx, cat, Actor, n)
	}
	if err != nil {
		return Result{}, fmt.Errorf("ticket of mail %d: %w", p.id, err)
	}
	if err := requestPut(ctx, p.tx, t.ID, u.Request); err != nil {
		return Result{}, err
	}
	if agent != "" {
		if err := tickets.RequesterAliasAdd(ctx, p.tx, t.ID, agent, "forwarded the request"); err != nil {
			return Result{}, err
		}
	}
	mr.Note = note(u, msg, "Understood from the requester's mail:")
	mr.NeedsInfo = len(u.Missing) > 0
	if _, err := tickets.UpdateFromMail(ctx, p.tx, Actor, t.ID, tickets.MailRequest{NeedsInfo: mr.NeedsInfo, Note: mr.Note}); err != nil {
		return Result{}, err
	}
	res := Result{Outcome: OutcomeNewTicket, TicketID: t.ID}
	if entries, err := tickets.EntryListByTicket(ctx, p.tx, t.ID); err == nil {
		for _, en := range entries {
			if en.Kind == tickets.EntryMailIn {
				res.EntryID = en.ID
				break
			}
		}
	}
	args := NotifyArgs{TicketID: t.ID, Notice: pmail.NoticeAcknowledged}
	if mr.NeedsInfo {
		args = NotifyArgs{TicketID: t.ID, Notice: pmail.NoticeNeedsInfo, Missing: u.Missing, Problems: u.Problems}
	}
	return res, Notify(ctx, p.tx, p.d.Jobs, args)
}

// keepUnknownRef keeps a ref the catalog does not know on the ticket, so
// the ticket and the reply name what the requester wrote (the reply asks
// them to check it) instead of an empty project.
func keepUnknownRef(mr tickets.MailRequest, u understood) tickets.MailRequest {
	if r := u.Request.ProjectRef; mr.ProjectRef == "" && r.Confidence == pmail.Invalid && r.Value != "" {
		mr.ProjectRef = strings.ToLower(r.Value)
	}
	return mr
}

// requester is the address answers go to; a mail with none readable still
// makes a ticket, addressed to nobody (NoReply says so).
func requester(msg *pmail.Message, env pmail.Envelope) string {
	for _, a := range []string{msg.ReplyAddress().Addr, msg.From.Addr, env.From} {
		if _, err := mail.ParseAddress(a); a != "" && err == nil {
			return a
		}
	}
	return UnknownRequester
}

// UnknownRequester is the requester of a ticket made from a mail with no
// readable sender; nothing is ever sent to it.
const UnknownRequester = "unknown-sender@invalid"

func fieldOf(ticketField string) string {
	switch ticketField {
	case "project_ref":
		return pmail.FieldProjectRef
	case "requested_at", "requested_tz":
		return pmail.FieldTime
	case "scope":
		return pmail.FieldScope
	case "mode":
		return pmail.FieldMode
	}
	return ticketField
}
