package mail

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file          string
		messageID     string
		inReplyTo     string
		from          Address
		subject       string
		date          string // RFC 3339, empty for none
		fromHTML      bool
		textHas       []string
		textHasNot    []string
		attachments   []string // content types
		automatic     bool
		reasonHas     string
		problemsHave  []string // substrings, each must appear in some problem
		problemsEmpty bool
		reported      string
	}{
		{
			file:          "gmail_reply.eml",
			messageID:     "CAF=xq3Tn8Q2k+abc123@mail.gmail.com",
			inReplyTo:     "restore.lx1.aaaa@portal.example.com",
			from:          Address{Name: "Alice Nguyen", Addr: "alice.nguyen@gmail.com"},
			subject:       "Re: [Restore #42] We need a little more information",
			date:          "2026-05-04T10:30:55-07:00",
			textHas:       []string{"It's proj-abc. Please restore the orders table", "new project please – we want", "> Please tell us:"},
			textHasNot:    []string{"<div", "=E2"},
			problemsEmpty: true,
		},
		{
			file:          "outlook_1252.eml",
			messageID:     "DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.outlook.com",
			from:          Address{Name: "Bob Müller", Addr: "bob@example.de"},
			subject:       "Restore “users” table please",
			date:          "2026-05-04T09:15:00-05:00",
			textHas:       []string{"We need the “users” table in proj-alpha", "Please don’t touch the live database – restore", "Bob Müller", "-----Original Message-----"},
			problemsEmpty: true,
		},
		{
			file:          "forwarded.eml",
			messageID:     "fwd-1@customer.example",
			from:          Address{Name: "Carol Diaz", Addr: "carol@customer.example"},
			subject:       "Fwd: urgent: restore our database",
			date:          "2026-05-04T08:05:11Z",
			textHas:       []string{"---------- Forwarded message ---------", "restore project proj-abc to 2026-05-03 14:00 UTC"},
			problemsEmpty: true,
		},
		{
			file:          "forward_attached.eml",
			messageID:     "attached-fw-1@customer.example",
			from:          Address{Name: "Carol Diaz", Addr: "carol@customer.example"},
			subject:       "FW: restore needed",
			date:          "2026-05-04T10:00:00-05:00",
			textHas:       []string{"See the attached mail from Dana.\n\n---------- Forwarded message ---------\nFrom: Dana Smith <dana@customer.example>\nDate: Fri, 1 May 2026 09:00:00 -0500", "Please restore proj-abc to yesterday at 3pm as a new project."},
			attachments:   []string{"message/rfc822"},
			problemsEmpty: true,
		},
		{
			file:          "oneline.eml",
			messageID:     "20260505074500.1@tiny.example",
			from:          Address{Addr: "ops@tiny.example"},
			subject:       "restore",
			date:          "2026-05-05T07:45:00+02:00",
			textHas:       []string{"please restore proj-abc to yesterday"},
			problemsEmpty: true,
		},
		{
			file:          "html_only.eml",
			messageID:     "html-only-1@exemple.fr",
			from:          Address{Name: "François Dupont", Addr: "francois@exemple.fr"},
			subject:       "Restauration demandée",
			date:          "2026-05-04T16:00:00+02:00",
			fromHTML:      true,
			textHas:       []string{"Bonjour,\n\nPour le projet proj-alpha", "- public.orders\n- auth.users", "François\nSociété Exemple"},
			textHasNot:    []string{"alert", "color: red", "<p>", "Restore\n"},
			problemsEmpty: true,
		},
		{
			file:      "autoreply.eml",
			messageID: "oof-1@example.de",
			inReplyTo: "restore.lx1.bbbb@portal.example.com",
			from:      Address{Name: "Bob Müller", Addr: "bob@example.de"},
			subject:   "Automatic reply: [Restore #42] We received your restore request",
			date:      "2026-05-04T09:20:01-05:00",
			textHas:   []string{"out of the office"},
			automatic: true,
			reasonHas: "Auto-Submitted: auto-replied",
		},
		{
			file:        "bounce.eml",
			messageID:   "20260504170003.5C1A2B3C4D@mx.support.example.com",
			from:        Address{Name: "Mail Delivery System", Addr: "MAILER-DAEMON@mx.support.example.com"},
			subject:     "Undelivered Mail Returned to Sender",
			date:        "2026-05-04T17:00:03Z",
			textHas:     []string{"550 5.1.1 User unknown"},
			textHasNot:  []string{"Reporting-MTA", "Hello, we received"},
			attachments: []string{"message/delivery-status", "message/rfc822"},
			automatic:   true,
			reported:    "restore.lx1.cccc@portal.example.com",
		},
		{
			file:         "malformed_boundary.eml",
			from:         Address{Name: "Eve", Addr: "eve@broken.example"},
			subject:      "restore proj-abc please",
			textHas:      []string{"Please restore proj-abc to 2026-05-03 14:00 UTC"},
			textHasNot:   []string{"--some-other-boundary", "Content-Type"},
			problemsHave: []string{"no Date header", "no Message-ID header", "broken MIME structure", "showed the raw body"},
		},
		{
			file:         "malformed_charset.eml",
			messageID:    "charset-1@broken.example",
			from:         Address{Name: "Frank", Addr: "frank@broken.example"},
			subject:      "=?x-foo?Q?restore?=",
			textHas:      []string{"Please restore proj-abc, café table"},
			problemsHave: []string{"could not decode charset x-foo", "could not read Date header", "could not decode Subject"},
		},
		{
			file:         "malformed_header.eml",
			messageID:    "hdr-1@broken.example",
			from:         Address{Name: "Grace", Addr: "grace@broken.example"},
			subject:      "restore proj-abc",
			date:         "2026-05-04T09:00:00Z",
			textHas:      []string{"restore the users table to this morning"},
			problemsHave: []string{`skipped malformed header line 2: "this line is not a header"`},
		},
		{
			file:         "no_headers.eml",
			textHas:      []string{"please restore proj-abc to 2026-05-03 14:00 UTC\noverwrite the live database"},
			problemsHave: []string{"no headers"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			m, err := Parse(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.MessageID != tt.messageID {
				t.Errorf("MessageID = %q, want %q", m.MessageID, tt.messageID)
			}
			if m.InReplyTo != tt.inReplyTo {
				t.Errorf("InReplyTo = %q, want %q", m.InReplyTo, tt.inReplyTo)
			}
			if m.From != tt.from {
				t.Errorf("From = %+v, want %+v", m.From, tt.from)
			}
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			var date string
			if !m.Date.IsZero() {
				date = m.Date.Format(time.RFC3339)
			}
			if date != tt.date {
				t.Errorf("Date = %q, want %q", date, tt.date)
			}
			if m.TextFromHTML != tt.fromHTML {
				t.Errorf("TextFromHTML = %v, want %v", m.TextFromHTML, tt.fromHTML)
			}
			for _, s := range tt.textHas {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text does not contain %q; Text:\n%s", s, m.Text)
				}
			}
			for _, s := range tt.textHasNot {
				if strings.Contains(m.Text, s) {
					t.Errorf("Text contains %q; Text:\n%s", s, m.Text)
				}
			}
			var types []string
			for _, a := range m.Attachments {
				types = append(types, a.ContentType)
				if a.Size <= 0 {
					t.Errorf("attachment %s has size %d", a.ContentType, a.Size)
				}
			}
			if !slices.Equal(types, tt.attachments) {
				t.Errorf("attachments = %v, want %v", types, tt.attachments)
			}
			if m.IsAutomatic != tt.automatic {
				t.Errorf("IsAutomatic = %v (%s), want %v", m.IsAutomatic, m.AutomaticReason, tt.automatic)
			}
			if !strings.Contains(m.AutomaticReason, tt.reasonHas) {
				t.Errorf("AutomaticReason = %q, want it to contain %q", m.AutomaticReason, tt.reasonHas)
			}
			if m.ReportedMessageID != tt.reported {
				t.Errorf("ReportedMessageID = %q, want %q", m.ReportedMessageID, tt.reported)
			}
			if tt.problemsEmpty && len(m.Problems) > 0 {
				t.Errorf("Problems = %q, want none", m.Problems)
			}
			for _, p := range tt.problemsHave {
				if !slices.ContainsFunc(m.Problems, func(s string) bool { return strings.Contains(s, p) }) {
					t.Errorf("Problems = %q, want one containing %q", m.Problems, p)
				}
			}
		})
	}
}

func TestParseAutomatic(t *testing.T) {
	t.Parallel()
	base := "From: someone@example.com\r\nTo: restore@support.example.com\r\nSubject: hello\r\nDate: Mon, 4 May 2026 09:00:00 +0000\r\nMessage-ID: <a@b>\r\n"
	tests := []struct {
		name   string
		extra  string
		from   string
		want   bool
		reason string
	}{
		{name: "plain human mail", want: false},
		{name: "auto-submitted no", extra: "Auto-Submitted: no\r\n", want: false},
		{name: "auto-generated", extra: "Auto-Submitted: auto-generated\r\n", want: true, reason: "auto-generated"},
		{name: "x-autoreply", extra: "X-Autoreply: yes\r\n", want: true, reason: "X-Autoreply"},
		{name: "x-autorespond", extra: "X-Autorespond: vacation\r\n", want: true, reason: "X-Autorespond"},
		{name: "precedence bulk", extra: "Precedence: bulk\r\n", want: true, reason: "bulk"},
		{name: "precedence junk", extra: "Precedence: junk\r\n", want: true, reason: "junk"},
		{name: "precedence list", extra: "Precedence: list\r\n", want: true, reason: "list"},
		{name: "precedence auto_reply", extra: "Precedence: auto_reply\r\n", want: true, reason: "auto_reply"},
		{name: "precedence first-class", extra: "Precedence: first-class\r\n", want: false},
		{name: "empty return path", extra: "Return-Path: <>\r\n", want: true, reason: "Return-Path"},
		{name: "postmaster", from: "postmaster@mx.example.com", want: true, reason: "postmaster"},
		{name: "mailer-daemon", from: "Mailer-Daemon@mx.example.com", want: true, reason: "Mailer-Daemon"},
		{name: "read receipt", extra: "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n", want: true, reason: "read receipt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := base + tt.extra
			if tt.from != "" {
				raw = strings.Replace(raw, "someone@example.com", tt.from, 1)
			}
			raw += "\r\nbody\r\n"
			if strings.Contains(tt.extra, "boundary=b") {
				raw += "--b\r\nContent-Type: text/plain\r\n\r\nread\r\n--b--\r\n"
			}
			m, err := Parse([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			if m.IsAutomatic != tt.want || !strings.Contains(m.AutomaticReason, tt.reason) {
				t.Errorf("IsAutomatic = %v, reason %q; want %v with %q", m.IsAutomatic, m.AutomaticReason, tt.want, tt.reason)
			}
		})
	}
}

func TestParseEdgeCases(t *testing.T) {
	t.Parallel()
	t.Run("nothing usable", func(t *testing.T) {
		t.Parallel()
		for _, raw := range []string{"", "   \r\n\r\n\t"} {
			if _, err := Parse([]byte(raw)); !errors.Is(err, ErrNothingUsable) {
				t.Errorf("Parse(%q) error = %v, want ErrNothingUsable", raw, err)
			}
		}
	})
	t.Run("attachment recorded, not kept", func(t *testing.T) {
		t.Parallel()
		raw := "From: a@example.com\r\nDate: Mon, 4 May 2026 09:00:00 +0000\r\nMessage-ID: <x@y>\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n" +
			"--zz\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
			"--zz\r\nContent-Type: application/x-sh; name=\"evil.sh\"\r\nContent-Disposition: attachment; filename=\"evil.sh\"\r\nContent-Transfer-Encoding: base64\r\n\r\nZWNobyBwd25lZAo=\r\n" +
			"--zz--\r\n"
		m, err := Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		want := []Attachment{{Filename: "evil.sh", ContentType: "application/x-sh", Size: 11}}
		if !slices.Equal(m.Attachments, want) {
			t.Errorf("Attachments = %+v, want %+v", m.Attachments, want)
		}
		if m.Text != "see attached" {
			t.Errorf("Text = %q", m.Text)
		}
	})
	t.Run("undeclared 8-bit text read as windows-1252", func(t *testing.T) {
		t.Parallel()
		raw := "From: a@example.com\r\nSubject: caf\xe9\r\n\r\nna\xefve\r\n"
		m, err := Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "café" || m.Text != "naïve" {
			t.Errorf("Subject, Text = %q, %q", m.Subject, m.Text)
		}
	})
	t.Run("format=flowed joined", func(t *testing.T) {
		t.Parallel()
		raw := "From: a@example.com\r\nContent-Type: text/plain; format=flowed\r\n\r\nplease restore \r\nproj-abc now\r\n"
		m, _ := Parse([]byte(raw))
		if m.Text != "please restore proj-abc now" {
			t.Errorf("Text = %q", m.Text)
		}
	})
	t.Run("unknown transfer encoding", func(t *testing.T) {
		t.Parallel()
		raw := "From: a@example.com\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nrestore proj-abc\r\n"
		m, _ := Parse([]byte(raw))
		if m.Text != "restore proj-abc" || len(m.Problems) == 0 || !strings.Contains(m.Problems[len(m.Problems)-1], "x-uuencode") {
			t.Errorf("Text %q, Problems %q", m.Text, m.Problems)
		}
	})
	t.Run("references and reply address", func(t *testing.T) {
		t.Parallel()
		raw := "From: A <a@example.com>\r\nReply-To: Team <team@example.com>\r\nReferences: <r1@x> <r2@x>\r\nIn-Reply-To: <r2@x>\r\n\r\nhi\r\n"
		m, _ := Parse([]byte(raw))
		if !slices.Equal(m.References, []string{"r1@x", "r2@x"}) {
			t.Errorf("References = %q", m.References)
		}
		if got := m.ReplyAddress(); got.Addr != "team@example.com" {
			t.Errorf("ReplyAddress = %+v", got)
		}
	})
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n"))
	f.Add([]byte("Subject: =?utf-8?B?////?=\r\nContent-Type: text/html\r\n\r\n<blockquote><blockquote><ol><li>x"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			if m != nil {
				t.Fatal("error with a message")
			}
			return
		}
		for _, s := range append([]string{m.Text, m.Subject, m.From.Name}, m.Problems...) {
			if !isValidUTF8(s) {
				t.Fatalf("invalid UTF-8 in output: %q", s)
			}
		}
		_ = Understand(m, UnderstandOptions{KnownRefs: []string{"proj-abc"}, Tables: []string{"public.users"}})
	})
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "") == s }
