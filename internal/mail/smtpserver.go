package mail

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPOptions configure the intake listener. Zero values mean the defaults.
type SMTPOptions struct {
	// Domain is the name the server greets with; default "localhost".
	Domain string
	// SupportAddresses are the only recipients accepted (case-insensitive);
	// mail for anyone else gets 550. Empty accepts nothing.
	SupportAddresses []string
	// MaxMessageBytes, default 25 MiB; a bigger message gets 552.
	MaxMessageBytes int64
	// MaxRecipients per message, default 10; more get 452.
	MaxRecipients int
	// ReadTimeout and WriteTimeout per command, default 2 minutes.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// DeliverTimeout bounds one deliver call, default 1 minute; past it the
	// sender is told to retry.
	DeliverTimeout time.Duration
	// Logger; nil discards the server's log lines (the portal passes its own).
	Logger *slog.Logger
	// Now, for tests; default time.Now.
	Now func() time.Time
	// TLSConfig, when set, makes the listener offer STARTTLS with its
	// certificate (PORTAL_SMTP_TLS_CERT / PORTAL_SMTP_TLS_KEY). Mail over
	// plain SMTP is still accepted: the sending server decides.
	TLSConfig *tls.Config
}

// Default limits of the intake listener.
const (
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxRecipients   = 10
)

// Envelope is what the SMTP conversation said about a mail, apart from the
// mail itself.
type Envelope struct {
	From       string   // MAIL FROM; empty for bounces (MAIL FROM:<>)
	To         []string // the accepted RCPT TO addresses
	RemoteAddr string
	Helo       string // the name the client gave in HELO/EHLO
	ReceivedAt time.Time
	TLS        bool // the mail came over STARTTLS
}

// NewSMTPServer builds the intake listener. Start it with ListenAndServe, or
// Serve on a listener of your own; stop it with Shutdown or Close.
//
// deliver is called once per mail with the raw bytes, prefixed with a
// Return-Path and a Received trace header as a final delivery server adds
// them. deliver must store the mail before returning nil: nil answers 250
// and the sender forgets the mail. An error (or a panic) answers 451, a
// temporary failure, so the sending server retries later and nothing is
// lost. deliver may be called concurrently.
func NewSMTPServer(addr string, opts SMTPOptions, deliver func(ctx context.Context, env Envelope, raw []byte) error) *smtp.Server {
	b := &backend{
		domain:         cmp.Or(opts.Domain, "localhost"),
		allowed:        make(map[string]bool, len(opts.SupportAddresses)),
		deliver:        deliver,
		deliverTimeout: cmp.Or(opts.DeliverTimeout, time.Minute),
		log:            cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
		now:            opts.Now,
	}
	if b.now == nil {
		b.now = time.Now
	}
	for _, a := range opts.SupportAddresses {
		b.allowed[normalizeAddr(a)] = true
	}

	s := smtp.NewServer(b)
	s.Addr = addr
	s.Domain = b.domain
	s.MaxMessageBytes = cmp.Or(opts.MaxMessageBytes, DefaultMaxMessageBytes)
	s.MaxRecipients = cmp.Or(opts.MaxRecipients, DefaultMaxRecipients)
	s.ReadTimeout = cmp.Or(opts.ReadTimeout, 2*time.Minute)
	s.WriteTimeout = cmp.Or(opts.WriteTimeout, 2*time.Minute)
	s.ErrorLog = slogAdapter{b.log}
	s.TLSConfig = opts.TLSConfig
	return s
}

func normalizeAddr(a string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(a), "<>"))
}

type backend struct {
	domain         string
	allowed        map[string]bool
	deliver        func(ctx context.Context, env Envelope, raw []byte) error
	deliverTimeout time.Duration
	log            *slog.Logger
	now            func() time.Time
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{b: b, helo: c.Hostname(), conn: c}
	if ra := c.Conn().RemoteAddr(); ra != nil {
		s.remote = ra.String()
	}
	return s, nil
}

type session struct {
	b      *backend
	conn   *smtp.Conn
	helo   string
	remote string
	from   string
	to     []string
}

var (
	errUnknownRecipient = &smtp.SMTPError{
		Code:         550,
		EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message:      "No such mailbox: this server only accepts mail for the restore support address",
	}
	errDeliverFailed = &smtp.SMTPError{
		Code:         451,
		EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message:      "Could not store the message right now, please try again later",
	}
)

func (s *session) Reset() {
	s.from, s.to = "", nil
}

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.b.allowed[normalizeAddr(to)] {
		s.b.log.Info("smtp intake: recipient refused", "rcpt", to, "remote_addr", s.remote)
		return errUnknownRecipient
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) (err error) {
	body, err := io.ReadAll(r)
	if err != nil {
		// Too large (552) or the connection broke: go-smtp answers.
		s.b.log.Info("smtp intake: message not read", "remote_addr", s.remote, "err", err)
		return err
	}
	env := Envelope{
		From:       s.from,
		To:         append([]string(nil), s.to...),
		RemoteAddr: s.remote,
		Helo:       s.helo,
		ReceivedAt: s.b.now(),
	}
	if _, ok := s.conn.TLSConnectionState(); ok {
		env.TLS = true
	}
	if h := s.conn.Hostname(); h != "" {
		env.Helo = h // the EHLO after STARTTLS
	}
	raw := append(s.b.traceHeaders(env), body...)

	ctx, cancel := context.WithTimeout(context.Background(), s.b.deliverTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			s.b.log.Error("smtp intake: deliver panicked", "remote_addr", s.remote, "panic", fmt.Sprint(p))
			err = errDeliverFailed
		}
	}()
	if derr := s.b.deliver(ctx, env, raw); derr != nil {
		s.b.log.Error("smtp intake: deliver failed, sender told to retry", "remote_addr", s.remote, "bytes", len(raw), "err", derr)
		return errDeliverFailed
	}
	return nil
}

// traceHeaders are the Return-Path and Received fields a final delivery
// server adds (RFC 5321 section 4.4). Return-Path: <> is how Parse knows a
// bounce.
func (b *backend) traceHeaders(env Envelope) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "Return-Path: <%s>\r\n", oneLine(env.From))
	host, _, err := net.SplitHostPort(env.RemoteAddr)
	if err != nil {
		host = env.RemoteAddr
	}
	mark := traceMark
	if env.TLS {
		mark = traceMarkTLS
	}
	fmt.Fprintf(&buf, "Received: from %s ([%s])\r\n\tby %s"+mark+"\t%s\r\n",
		cmp.Or(oneLine(env.Helo), "unknown"), oneLine(host), oneLine(b.domain), env.ReceivedAt.Format(time.RFC1123Z))
	return buf.Bytes()
}

// traceMark ends the first lines of our Received field; StripTrace looks
// for it.
const traceMark = " (restore portal) with ESMTP;\r\n"

// traceMarkTLS is traceMark of a mail that came over TLS (RFC 3848).
const traceMarkTLS = " (restore portal) with ESMTPS;\r\n"

// slogAdapter lets go-smtp log through slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.l.Warn("smtp server: " + fmt.Sprintf(format, v...))
}

func (a slogAdapter) Println(v ...any) {
	a.l.Warn("smtp server: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
