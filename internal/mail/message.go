package mail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode windows-1252, iso-8859-*, and friends
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

// ErrNothingUsable is returned by Parse when the input holds no header and no
// text at all (empty or only white space).
var ErrNothingUsable = errors.New("mail: nothing usable in message")

// Limits that keep a hostile message from costing more than a normal one.
const (
	maxDepth     = 16       // nesting of multipart entities
	maxParts     = 500      // entities visited in one message
	maxTextBytes = 4 << 20  // decoded bytes kept from one text part
	maxProblems  = 50       // problems listed; more are counted
	maxRawHeader = 64 << 10 // raw header bytes kept for the lenient reader
)

// Address is a mailbox: the address and the display name, if any.
type Address struct {
	Name string
	Addr string
}

// String formats the address as "Name <addr>" or "addr".
func (a Address) String() string {
	if a.Name == "" {
		return a.Addr
	}
	return fmt.Sprintf("%s <%s>", a.Name, a.Addr)
}

// Attachment describes a non-text part. Its content is counted, never kept,
// executed or written anywhere.
type Attachment struct {
	Filename    string
	ContentType string
	Size        int64 // decoded bytes
	Inline      bool  // Content-Disposition: inline (for example an image in HTML)
}

// Message is what Parse could read from one mail.
type Message struct {
	MessageID  string // without angle brackets
	InReplyTo  string // first id of In-Reply-To, without angle brackets
	References []string
	From       Address
	To         []Address
	Cc         []Address
	ReplyTo    []Address
	Subject    string // decoded
	Date       time.Time

	// Text is the best readable body: the text/plain part, else the HTML part
	// converted to text. Line endings are "\n". Quoted history is still in it;
	// see StripQuoted.
	Text         string
	TextFromHTML bool

	Attachments []Attachment

	// ReportedMessageID is, in a bounce or a read receipt, the Message-ID
	// of the mail it reports on (usually one of ours): it finds the ticket
	// when the report carries no In-Reply-To.
	ReportedMessageID string

	// IsAutomatic is set on auto-replies, bounces, receipts and bulk mail:
	// they are recorded but never answered, so that robots do not talk to
	// each other forever. AutomaticReason says which sign gave it away.
	IsAutomatic     bool
	AutomaticReason string

	// AuthResults is the first (topmost) Authentication-Results field: the
	// one the receiving server added last, with its SPF, DKIM and DMARC
	// verdicts; empty when there is none. Fields further down may have come
	// from the sender and are not read.
	AuthResults string

	// Problems lists, for a person, what could not be read and what was done
	// instead, e.g. "no Date header".
	Problems []string
}

// ReplyAddress is where an answer goes: the first Reply-To, else From.
func (m *Message) ReplyAddress() Address {
	if len(m.ReplyTo) > 0 && m.ReplyTo[0].Addr != "" {
		return m.ReplyTo[0]
	}
	return m.From
}

// Parse reads a raw RFC 5322 message. It returns as much as it can read from
// a malformed message, with the trouble listed in Message.Problems; it
// returns ErrNothingUsable only when there is nothing to read at all.
func Parse(raw []byte) (*Message, error) {
	return parse(raw, 0)
}

// maxNested bounds mail attached in mail (forwarded as attachment).
const maxNested = 3

func parse(raw []byte, nested int) (*Message, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, ErrNothingUsable
	}
	p := &parser{msg: &Message{}, nested: nested}

	hdr, body, ok := p.readHeader(raw)
	if !ok {
		p.problem("no headers: read the whole message as text")
		p.msg.Text = normalizeText(p.toUTF8(raw, "message"))
		sanitize(p.msg)
		return p.msg, nil
	}
	p.readFields(hdr)

	e, err := message.New(hdr, bytes.NewReader(body))
	if err != nil {
		p.entityError(hdr, err)
	}
	p.walk(e, 0)
	p.finishText(body)
	p.detectAutomatic(hdr)
	if p.dropped > 0 {
		p.msg.Problems = append(p.msg.Problems, fmt.Sprintf("%d more problems not listed", p.dropped))
	}
	sanitize(p.msg)
	return p.msg, nil
}

// sanitize makes every string of m valid UTF-8, whatever the header bytes
// were, so that callers can store and show them without checking.
//
// NUL and the other C0 control characters but tab, line feed and carriage
// return are dropped too: Postgres text cannot hold a NUL ("invalid byte
// sequence 0x00"), and none of them belongs in a name, subject or body. The
// raw copy of the mail keeps every byte.
func sanitize(m *Message) {
	v := func(s *string) { *s = CleanText(*s) }
	addrs := func(l []Address) {
		for i := range l {
			v(&l[i].Name)
			v(&l[i].Addr)
		}
	}
	v(&m.MessageID)
	v(&m.InReplyTo)
	for i := range m.References {
		v(&m.References[i])
	}
	v(&m.From.Name)
	v(&m.From.Addr)
	addrs(m.To)
	addrs(m.Cc)
	addrs(m.ReplyTo)
	v(&m.Subject)
	v(&m.Text)
	v(&m.AutomaticReason)
	v(&m.AuthResults)
	v(&m.ReportedMessageID)
	for i := range m.Problems {
		v(&m.Problems[i])
	}
	for i := range m.Attachments {
		v(&m.Attachments[i].Filename)
		v(&m.Attachments[i].ContentType)
	}
}

// CleanText returns s as valid UTF-8 without NUL and the other C0 control
// characters but tab, line feed and carriage return: text that Postgres
// stores and a page shows as it is.
func CleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, s)
}

func isControl(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f
}

// parser holds the state of one Parse call.
type parser struct {
	msg        *Message
	plain      []string
	html       []string
	parts      int
	broken     bool   // the MIME structure could not be followed
	reportType string // report-type of a multipart/report
	dropped    int
	nested     int      // how deep in attached mail this parser is
	forwarded  []string // attached mail, shown as forwarded messages
}

func (p *parser) problem(format string, args ...any) {
	if len(p.msg.Problems) >= maxProblems {
		p.dropped++
		return
	}
	p.msg.Problems = append(p.msg.Problems, strings.ToValidUTF8(fmt.Sprintf(format, args...), "\uFFFD"))
}

func (p *parser) entityError(h message.Header, err error) {
	ct, params, _ := h.ContentType()
	switch {
	case message.IsUnknownCharset(err):
		p.problem("could not decode charset %s of %s part: showed raw bytes", params["charset"], orDefault(ct, "text/plain"))
	case message.IsUnknownEncoding(err):
		p.problem("unknown transfer encoding %q of %s part: showed raw bytes", h.Get("Content-Transfer-Encoding"), orDefault(ct, "text/plain"))
	default:
		p.problem("%s part: %v", orDefault(ct, "text/plain"), err)
	}
}

func (p *parser) walk(e *message.Entity, depth int) {
	p.parts++
	if depth > maxDepth || p.parts > maxParts {
		if !p.broken {
			p.problem("too many or too deeply nested MIME parts: read only the first %d", maxParts)
		}
		p.broken = true
		return
	}
	ct, params, err := e.Header.ContentType()
	if err != nil && e.Header.Get("Content-Type") != "" {
		p.problem("could not read Content-Type %q: treated the part as text/plain", truncate(e.Header.Get("Content-Type"), 60))
	}
	if ct == "multipart/report" {
		p.reportType = strings.ToLower(params["report-type"])
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if part == nil {
				p.broken = true
				p.problem("broken MIME structure in %s: %v", ct, err)
				return
			}
			if err != nil {
				p.entityError(part.Header, err)
			}
			p.walk(part, depth+1)
		}
	}
	p.leaf(e, ct, params)
}

func (p *parser) leaf(e *message.Entity, ct string, params map[string]string) {
	if ct == "" {
		ct = "text/plain"
	}
	disp, _, _ := e.Header.ContentDisposition()
	ah := gomail.AttachmentHeader{Header: e.Header}
	filename, _ := ah.Filename()

	isBody := (ct == "text/plain" || ct == "text/html") && disp != "attachment" && filename == ""
	if !isBody {
		body := e.Body
		var head bytes.Buffer
		if ct == "message/rfc822" && p.reportType == "" && p.nested < maxNested {
			// Mail forwarded as an attachment carries the request: show it
			// as a forwarded message, and record it as an attachment too.
			inner, err := io.ReadAll(io.LimitReader(body, maxTextBytes))
			if err != nil {
				p.problem("attached mail %q: could not decode all of it: %v", filename, err)
			}
			if fm, ferr := parse(inner, p.nested+1); ferr == nil {
				p.forwarded = append(p.forwarded, forwardBlock(fm))
				for _, pr := range fm.Problems {
					p.problem("attached mail: %s", pr)
				}
			}
			n, _ := io.Copy(io.Discard, body)
			p.msg.Attachments = append(p.msg.Attachments, Attachment{
				Filename:    p.toUTF8([]byte(filename), "filename"),
				ContentType: ct,
				Size:        int64(len(inner)) + n,
				Inline:      disp == "inline",
			})
			return
		}
		if p.reportType != "" && (ct == "message/rfc822" || ct == "text/rfc822-headers") {
			// Keep the start of the reported mail to read its Message-ID.
			body = io.TeeReader(body, &limitedBuffer{buf: &head, max: maxRawHeader})
		}
		n, err := io.Copy(io.Discard, body)
		if head.Len() > 0 && p.msg.ReportedMessageID == "" {
			if h, herr := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(head.Bytes()))); herr == nil || h.Len() > 0 {
				mh := gomail.Header{Header: message.Header{Header: h}}
				if id, _ := mh.MessageID(); id != "" {
					p.msg.ReportedMessageID = id
				}
			}
		}
		if err != nil {
			p.problem("attachment %q (%s): could not decode all of it: %v", filename, ct, err)
		}
		p.msg.Attachments = append(p.msg.Attachments, Attachment{
			Filename:    p.toUTF8([]byte(filename), "filename"),
			ContentType: ct,
			Size:        n,
			Inline:      disp == "inline",
		})
		return
	}

	b, err := io.ReadAll(io.LimitReader(e.Body, maxTextBytes+1))
	if err != nil {
		p.problem("%s part: could not decode all of it (%v): kept what could be read", ct, err)
	}
	if len(b) > maxTextBytes {
		b = b[:maxTextBytes]
		p.problem("%s part longer than %d bytes: kept the beginning", ct, maxTextBytes)
		_, _ = io.Copy(io.Discard, e.Body)
	}
	s := p.toUTF8(b, ct+" part")
	if ct == "text/html" {
		p.html = append(p.html, s)
		return
	}
	if strings.EqualFold(params["format"], "flowed") {
		s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
	}
	p.plain = append(p.plain, s)
}

// finishText picks the best body and, when the MIME structure was broken
// and nothing readable came out of it, shows the raw body instead.
func (p *parser) finishText(rawBody []byte) {
	m := p.msg
	switch {
	case len(p.plain) > 0 && strings.TrimSpace(strings.Join(p.plain, "")) != "":
		m.Text = normalizeText(strings.Join(p.plain, "\n\n"))
	case len(p.html) > 0:
		var parts []string
		for _, h := range p.html {
			parts = append(parts, HTMLToText(h))
		}
		m.Text = normalizeText(strings.Join(parts, "\n\n"))
		m.TextFromHTML = true
	}
	if len(p.forwarded) > 0 {
		m.Text = strings.TrimSpace(m.Text + "\n\n" + strings.Join(p.forwarded, "\n\n"))
	}
	if m.Text == "" && p.broken && len(bytes.TrimSpace(rawBody)) > 0 {
		m.Text = normalizeText(stripMIMENoise(p.toUTF8(rawBody, "raw body")))
		p.problem("showed the raw body because its MIME structure could not be read")
	}
}

// forwardBlock writes attached mail the way Gmail writes an inline
// forward, so StripQuoted and Understand treat both alike.
func forwardBlock(m *Message) string {
	var b strings.Builder
	b.WriteString("---------- Forwarded message ---------\n")
	if m.From.Addr != "" {
		fmt.Fprintf(&b, "From: %s\n", m.From)
	}
	if !m.Date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\n", m.Date.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	}
	if m.Subject != "" {
		fmt.Fprintf(&b, "Subject: %s\n", oneLine(m.Subject))
	}
	b.WriteString("\n")
	b.WriteString(m.Text)
	return b.String()
}

// stripMIMENoise drops boundary lines and part headers from a raw body that
// could not be parsed, so what is left reads like the message.
func stripMIMENoise(s string) string {
	var out []string
	inPartHeader := false
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") && len(t) > 10 && !strings.Contains(t, " ") {
			inPartHeader = true
			continue
		}
		if inPartHeader {
			if t == "" {
				inPartHeader = false
				continue
			}
			if k, _, ok := strings.Cut(t, ":"); ok && isFieldName(k) && strings.HasPrefix(strings.ToLower(k), "content-") {
				continue
			}
			inPartHeader = false
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// toUTF8 returns b as valid UTF-8. Bytes that are not UTF-8 (an undeclared
// 8-bit charset, or a charset that could not be decoded) are read as
// windows-1252, the most common case in the wild.
func (p *parser) toUTF8(b []byte, what string) string {
	if utf8.Valid(b) {
		return string(b)
	}
	d, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		p.problem("%s is not valid UTF-8: replaced the bad bytes", what)
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	p.problem("%s is not valid UTF-8: read it as windows-1252", what)
	return string(d)
}

// unflow joins the soft line breaks of format=flowed text (RFC 3676).
func unflow(s string, delsp bool) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var b strings.Builder
	for i, line := range lines {
		if strings.HasPrefix(line, " ") {
			line = line[1:] // space stuffing
		}
		soft := strings.HasSuffix(line, " ") && line != "-- " && i < len(lines)-1
		if soft {
			if delsp {
				line = line[:len(line)-1]
			}
			b.WriteString(line)
			continue
		}
		b.WriteString(line)
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// normalizeText makes line endings "\n", drops trailing white space on each
// line, and collapses runs of more than two empty lines.
func normalizeText(s string) string { return squeezeText(s, 2) }

// squeezeText is normalizeText with at most maxEmpty empty lines in a row.
// A "-- " signature separator keeps its space.
func squeezeText(s string, maxEmpty int) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	empty := 0
	for _, l := range lines {
		if l != "-- " {
			l = strings.TrimRight(l, " \t\u00a0")
		}
		if l == "" {
			empty++
			if empty > maxEmpty {
				continue
			}
		} else {
			empty = 0
		}
		out = append(out, l)
	}
	return strings.Trim(strings.Join(out, "\n"), "\n")
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(b []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}
