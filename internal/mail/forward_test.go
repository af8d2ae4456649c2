package mail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestForwardedFrom(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"forwarded.eml":        "dana@customer.example",
		"outlook_forward.eml":  "dana@customer.example",
		"forward_attached.eml": "dana@customer.example",
		"gmail_reply.eml":      "",
		"oneline.eml":          "",
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := m.ForwardedFrom()
		if got.Addr != want || ok != (want != "") {
			t.Errorf("%s: ForwardedFrom = %+v, %v; want %q", name, got, ok, want)
		}
	}
	m := &Message{Subject: "FW: help", Text: "see below\n\n-----Original Message-----\nFrom: Dana Smith [mailto:Dana@Customer.Example]\nSent: Friday\n\nrestore"}
	if a, ok := m.ForwardedFrom(); !ok || a.Addr != "dana@customer.example" || a.Name != "Dana Smith" {
		t.Errorf("Outlook mailto form: %+v %v", a, ok)
	}
	// An Outlook reply (no FW: subject) quotes, it does not forward.
	m = &Message{Subject: "RE: help", Text: "ok\n\n-----Original Message-----\nFrom: Dana <dana@customer.example>\nSent: Friday\n\nrestore"}
	if a, ok := m.ForwardedFrom(); ok {
		t.Errorf("a reply read as a forward of %+v", a)
	}
}

func TestAuthResults(t *testing.T) {
	t.Parallel()
	raw := "Authentication-Results: mx.portal.example;\r\n spf=fail smtp.mailfrom=evil.example;\r\n dkim=none; dmarc=fail (p=reject) header.from=customer.example\r\n" +
		"Authentication-Results: forged.example; dmarc=pass\r\n" +
		"From: dana@customer.example\r\nSubject: x\r\n\r\nbody\r\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	a := ParseAuthResults(m.AuthResults)
	if a.Server != "mx.portal.example" || a.SPF != "fail" || a.DKIM != "none" || a.DMARC != "fail" || !a.DMARCFailed() {
		t.Errorf("verdicts %+v of %q", a, m.AuthResults)
	}
	if s := a.String(); s != "spf=fail dkim=none dmarc=fail (by mx.portal.example)" {
		t.Errorf("String %q", s)
	}
	if ParseAuthResults("mx; dkim=fail header.d=a; dkim=pass header.d=b").DKIM != "pass" {
		t.Error("a passing signature among several does not win")
	}
	if (AuthVerdicts{}).String() != "" || ParseAuthResults("").DMARCFailed() {
		t.Error("no field must mean no verdict")
	}
}

// TestParseNUL: NUL bytes in the subject and the body are dropped from the
// text fields (Postgres text cannot hold them), the rest is kept.
func TestParseNUL(t *testing.T) {
	t.Parallel()
	raw := "From: dana@customer.example\r\nSubject: restore\x00 proj-abc\r\nMessage-ID: <nul\x00@x>\r\n\r\nplease\x00 restore\x01 proj-abc\r\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{"subject": m.Subject, "text": m.Text, "message-id": m.MessageID} {
		if strings.ContainsAny(s, "\x00\x01") {
			t.Errorf("%s keeps a control byte: %q", what, s)
		}
	}
	if m.Subject != "restore proj-abc" || !strings.Contains(m.Text, "please restore proj-abc") {
		t.Errorf("subject %q text %q", m.Subject, m.Text)
	}
	m, err = Parse([]byte("no header at all\x00 here"))
	if err != nil || strings.Contains(m.Text, "\x00") {
		t.Errorf("headerless mail: %q, %v", m.Text, err)
	}
}

// TestZoneKept: "2:15pm PST" is read in America/Los_Angeles (the zone, not
// a fixed offset), and an answer shows it in PST with UTC beside.
func TestZoneKept(t *testing.T) {
	t.Parallel()
	m := testMessage("restore", "please restore proj-abc to November 20, 2026 at 2:15pm PST")
	r := Understand(m, UnderstandOptions{KnownRefs: []string{"proj-abc"}, Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	at := r.Time.Value
	if at.Location().String() != "America/Los_Angeles" || !at.UTC().Equal(time.Date(2026, 11, 20, 22, 15, 0, 0, time.UTC)) {
		t.Fatalf("time %v in %s (%s)", at, at.Location(), r.Time.Confidence)
	}
	_, text, err := Render(NoticeAcknowledged, NoticeData{TicketID: 1, ProjectRef: "proj-abc", Time: at.UTC(), Zone: at.Location()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "14:15 PST (22:15 UTC)") {
		t.Errorf("answer does not show PST with UTC beside:\n%s", text)
	}
	// In July the zone is on PDT: the letters written decide the instant,
	// and the source says so.
	r = Understand(testMessage("restore", "restore proj-abc to July 3, 2026 at 2pm PST"), UnderstandOptions{KnownRefs: []string{"proj-abc"}, Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if !r.Time.Value.UTC().Equal(time.Date(2026, 7, 3, 22, 0, 0, 0, time.UTC)) || !strings.Contains(r.Time.Source, "PDT") {
		t.Errorf("PST in July: %v, source %q", r.Time.Value, r.Time.Source)
	}
}
