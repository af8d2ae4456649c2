package mail

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// readHeader reads the header block strictly, and falls back to a lenient
// reader that skips bad lines, so a single broken header line does not lose
// the others. ok is false when the message has no header at all.
func (p *parser) readHeader(raw []byte) (message.Header, []byte, bool) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err == nil && h.Len() > 0 {
		rest, _ := io.ReadAll(br)
		return message.Header{Header: h}, rest, true
	}

	head, body := splitHeader(raw)
	var lh textproto.Header
	var key, val string
	flush := func() {
		if key != "" {
			lh.Add(key, strings.TrimSpace(val))
		}
		key, val = "", ""
	}
	skipped := 0
	for i, line := range strings.Split(string(head), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if key != "" {
				val += " " + strings.TrimSpace(line)
			}
			continue
		}
		flush()
		k, v, found := strings.Cut(line, ":")
		if !found || !isFieldName(k) {
			if i == 0 {
				// The very first line is not a header: there is no header block.
				return message.Header{}, raw, false
			}
			skipped++
			if skipped <= 3 {
				p.problem("skipped malformed header line %d: %q", i+1, truncate(line, 60))
			}
			continue
		}
		key, val = k, v
	}
	flush()
	if skipped > 3 {
		p.problem("skipped %d malformed header lines in all", skipped)
	}
	if lh.Len() == 0 {
		return message.Header{}, raw, false
	}
	return message.Header{Header: lh}, body, true
}

// splitHeader cuts raw at its first empty line.
func splitHeader(raw []byte) (head, body []byte) {
	i := bytes.Index(raw, []byte("\n\n"))
	j := bytes.Index(raw, []byte("\r\n\r\n"))
	switch {
	case j >= 0 && (i < 0 || j < i):
		return raw[:j], raw[j+4:]
	case i >= 0:
		return raw[:i], raw[i+2:]
	case len(raw) > maxRawHeader:
		return raw[:maxRawHeader], raw[maxRawHeader:]
	}
	return raw, nil
}

func isFieldName(k string) bool {
	if k == "" || len(k) > 76 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

var (
	reAddr  = regexp.MustCompile(`[^\s<>"'(),;:]+@[^\s<>"'(),;:]+`)
	reMsgID = regexp.MustCompile(`<([^<>\s]+)>`)
)

func (p *parser) readFields(h message.Header) {
	mh := gomail.Header{Header: h}
	m := p.msg

	if !h.Has("From") {
		p.problem("no From header")
	} else if l := p.addresses(mh, "From"); len(l) > 0 {
		m.From = l[0]
	}
	m.To = p.addresses(mh, "To")
	m.Cc = p.addresses(mh, "Cc")
	m.ReplyTo = p.addresses(mh, "Reply-To")
	if v := h.Get("Authentication-Results"); v != "" {
		m.AuthResults = truncate(strings.Join(strings.Fields(p.toUTF8([]byte(v), "Authentication-Results")), " "), 1000)
	}

	if h.Has("Subject") {
		s, err := mh.Subject()
		if err != nil {
			p.problem("could not decode Subject %q: showed it raw", truncate(h.Get("Subject"), 60))
		}
		m.Subject = strings.TrimSpace(p.toUTF8([]byte(s), "Subject"))
	}

	switch v := h.Get("Date"); {
	case v == "":
		p.problem("no Date header")
	default:
		if d, err := mh.Date(); err == nil {
			m.Date = d
		} else if d, ok := parseLooseDate(v); ok {
			m.Date = d
		} else {
			p.problem("could not read Date header %q", truncate(v, 60))
		}
	}

	if v := h.Get("Message-Id"); v == "" {
		p.problem("no Message-ID header")
	} else if id, err := mh.MessageID(); err == nil && id != "" {
		m.MessageID = id
	} else {
		m.MessageID = strings.Trim(strings.TrimSpace(v), "<>")
		p.problem("malformed Message-ID %q: kept it as written", truncate(v, 60))
	}

	m.InReplyTo = firstOf(msgIDs(mh, "In-Reply-To"))
	m.References = msgIDs(mh, "References")
}

// addresses reads an address list, falling back to anything that looks like
// an address when the header does not follow RFC 5322.
func (p *parser) addresses(mh gomail.Header, key string) []Address {
	l, err := mh.AddressList(key)
	if err == nil {
		out := make([]Address, 0, len(l))
		for _, a := range l {
			out = append(out, Address{Name: a.Name, Addr: a.Address})
		}
		return out
	}
	raw := mh.Get(key)
	var out []Address
	for _, a := range reAddr.FindAllString(raw, 20) {
		out = append(out, Address{Addr: a})
	}
	if len(out) > 0 {
		p.problem("malformed %s header %q: kept the addresses in it", key, truncate(raw, 60))
	} else {
		p.problem("could not read any address in %s header %q", key, truncate(raw, 60))
	}
	return out
}

func msgIDs(mh gomail.Header, key string) []string {
	l, err := mh.MsgIDList(key)
	if err == nil {
		return l
	}
	var out []string
	for _, m := range reMsgID.FindAllStringSubmatch(mh.Get(key), 100) {
		out = append(out, m[1])
	}
	return out
}

func firstOf(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

// parseLooseDate reads Date headers that net/mail refuses but people write.
func parseLooseDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if i := strings.Index(v, " ("); i > 0 {
		v = v[:i]
	}
	layouts := []string{
		"Mon, 2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04 -0700",
		"2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04:05 MST",
		"Mon, 02 Jan 2006 15:04:05 MST",
		"Mon Jan 2 15:04:05 2006",
		"Mon Jan 2 15:04:05 MST 2006",
		time.RFC3339,
		"2006-01-02 15:04:05 -0700",
		"2006-01-02 15:04:05",
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
