package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
)

// Outgoing is a plain-text mail the portal sends.
type Outgoing struct {
	From    Address
	To      []Address
	Cc      []Address
	ReplyTo []Address
	Subject string
	Text    string

	// MessageID without angle brackets; empty means one is minted with
	// NewMessageID at the From address's domain. Callers that thread mail
	// mint it first with NewMessageID and store it with the ticket, so that
	// a reply's In-Reply-To finds the ticket.
	MessageID  string
	InReplyTo  string
	References []string
	Date       time.Time // zero means now

	// AutoSubmitted is the RFC 3834 Auto-Submitted value; empty means
	// "auto-replied" when InReplyTo is set (an answer to a mail) and
	// "auto-generated" otherwise. Either tells other robots not to answer.
	AutoSubmitted string
}

// ErrInvalidOutgoing is wrapped by Compose's errors about its input.
var ErrInvalidOutgoing = errors.New("mail: invalid outgoing mail")

// Compose writes o as an RFC 5322 message: a single text/plain UTF-8 part,
// quoted-printable, CRLF line endings. It sets Auto-Submitted and
// X-Auto-Response-Suppress so that out-of-office robots do not answer the
// portal, which would answer back.
func Compose(o Outgoing) ([]byte, error) {
	if err := checkAddress(o.From); err != nil {
		return nil, fmt.Errorf("%w: From: %w", ErrInvalidOutgoing, err)
	}
	if len(o.To) == 0 {
		return nil, fmt.Errorf("%w: no To address", ErrInvalidOutgoing)
	}
	for _, l := range [][]Address{o.To, o.Cc, o.ReplyTo} {
		for _, a := range l {
			if err := checkAddress(a); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalidOutgoing, err)
			}
		}
	}

	var h gomail.Header
	h.SetAddressList("From", toNetAddrs([]Address{o.From}))
	h.SetAddressList("To", toNetAddrs(o.To))
	h.SetAddressList("Cc", toNetAddrs(o.Cc))
	h.SetAddressList("Reply-To", toNetAddrs(o.ReplyTo))
	h.SetSubject(oneLine(o.Subject))
	date := o.Date
	if date.IsZero() {
		date = time.Now()
	}
	h.SetDate(date)
	id := o.MessageID
	if id == "" {
		_, domain, _ := strings.Cut(o.From.Addr, "@")
		id = NewMessageID(domain)
	}
	h.SetMessageID(oneLine(id))
	if o.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{oneLine(o.InReplyTo)})
	}
	if refs := cleanIDs(o.References); len(refs) > 0 {
		h.SetMsgIDList("References", refs)
	}
	auto := o.AutoSubmitted
	if auto == "" {
		auto = "auto-generated"
		if o.InReplyTo != "" {
			auto = "auto-replied"
		}
	}
	h.Set("Auto-Submitted", oneLine(auto))
	h.Set("X-Auto-Response-Suppress", "All")
	h.Set("MIME-Version", "1.0")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")

	var buf bytes.Buffer
	w, err := gomail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("mail: compose: %w", err)
	}
	text := strings.ReplaceAll(strings.ReplaceAll(o.Text, "\r\n", "\n"), "\n", "\r\n")
	if _, err := io.WriteString(w, text); err != nil {
		return nil, fmt.Errorf("mail: compose: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("mail: compose: %w", err)
	}
	return buf.Bytes(), nil
}

func checkAddress(a Address) error {
	if a.Addr == "" {
		return errors.New("empty address")
	}
	if _, err := netmail.ParseAddress(a.Addr); err != nil || strings.ContainsAny(a.Addr, " \r\n<>") {
		return fmt.Errorf("address %q: not a valid mailbox", a.Addr)
	}
	return nil
}

func toNetAddrs(l []Address) []*gomail.Address {
	out := make([]*gomail.Address, 0, len(l))
	for _, a := range l {
		out = append(out, &gomail.Address{Name: oneLine(a.Name), Address: a.Addr})
	}
	return out
}

// oneLine keeps header values on one line: no header injection through a
// subject or a name taken from a mail.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
}

func cleanIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		id = strings.Trim(oneLine(id), "<>")
		if id != "" && !strings.ContainsAny(id, " <>") {
			out = append(out, id)
		}
	}
	return out
}

// Send hands raw to the SMTP relay at relayAddr ("host:port") with the
// default RelayOptions: STARTTLS when the relay offers it, no AUTH. ctx
// bounds the whole exchange. A refusal by the relay is a *smtp.SMTPError;
// IsPermanent tells whether retrying can help.
func Send(ctx context.Context, relayAddr, from string, to []string, raw []byte) error {
	return SendWith(ctx, relayAddr, RelayOptions{}, from, to, raw)
}

func sendErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mail: send: %w (%w)", ctx.Err(), err)
	}
	return fmt.Errorf("mail: send: %w", err)
}

// IsPermanent reports whether a Send error is a permanent SMTP refusal
// (5xx): retrying the same mail will not help. Network errors and 4xx are
// temporary.
func IsPermanent(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500 && se.Code < 600
}
