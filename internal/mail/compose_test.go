package mail

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func testOutgoing() Outgoing {
	return Outgoing{
		From:       Address{Name: "Restore portal", Addr: "restore@support.example.com"},
		To:         []Address{{Name: "Alice Nguyen", Addr: "alice.nguyen@gmail.com"}},
		Subject:    "[Restore #42] Your restore is done",
		Text:       "Hello Alice,\n\nYour restore is done — the “orders” table is back.\n",
		MessageID:  "restore.1.abc@portal.example.com",
		InReplyTo:  "CAF=xq3Tn8Q2k+abc123@mail.gmail.com",
		References: []string{"restore.0.aaa@portal.example.com", "CAF=xq3Tn8Q2k+abc123@mail.gmail.com"},
		Date:       time.Date(2026, 5, 4, 18, 0, 0, 0, time.UTC),
	}
}

func TestComposeRoundTrip(t *testing.T) {
	t.Parallel()
	raw, err := Compose(testOutgoing())
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{
		"Auto-Submitted: auto-replied\r\n",
		"X-Auto-Response-Suppress: All\r\n",
		"Content-Type: text/plain; charset=utf-8\r\n",
		"Message-Id: <restore.1.abc@portal.example.com>\r\n",
		"In-Reply-To: <CAF=xq3Tn8Q2k+abc123@mail.gmail.com>\r\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("composed mail lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") {
		t.Error("bare LF in composed mail")
	}

	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Problems) > 0 {
		t.Errorf("Problems = %q", m.Problems)
	}
	if m.MessageID != "restore.1.abc@portal.example.com" || m.InReplyTo != "CAF=xq3Tn8Q2k+abc123@mail.gmail.com" ||
		!slices.Equal(m.References, testOutgoing().References) {
		t.Errorf("ids = %q %q %q", m.MessageID, m.InReplyTo, m.References)
	}
	if m.Subject != "[Restore #42] Your restore is done" || !m.Date.Equal(testOutgoing().Date) {
		t.Errorf("Subject, Date = %q, %v", m.Subject, m.Date)
	}
	if m.Text != "Hello Alice,\n\nYour restore is done — the “orders” table is back." {
		t.Errorf("Text = %q", m.Text)
	}
	// Our own mail, coming back to us (a loop), is recognised as automatic.
	if !m.IsAutomatic {
		t.Error("composed mail not recognised as automatic")
	}
	if id, ok := ParseSubjectTag(m.Subject); !ok || id != 42 {
		t.Errorf("ParseSubjectTag = %d, %v", id, ok)
	}
}

func TestComposeDefaultsAndSafety(t *testing.T) {
	t.Parallel()
	o := testOutgoing()
	o.MessageID, o.InReplyTo, o.References, o.Date = "", "", nil, time.Time{}
	o.Subject = "Ünïcode subject\r\nBcc: victim@example.com"
	o.To[0].Name = "Evil\r\nBcc: victim@example.com"
	raw, err := Compose(o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "\r\nBcc:") {
		t.Fatalf("header injection:\n%s", raw)
	}
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(m.MessageID, "@support.example.com") || !strings.HasPrefix(m.MessageID, "restore.") {
		t.Errorf("minted MessageID = %q", m.MessageID)
	}
	if m.Subject != "Ünïcode subject Bcc: victim@example.com" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if !strings.Contains(string(raw), "Auto-Submitted: auto-generated") {
		t.Error("a notification that answers nothing should be auto-generated")
	}
	if m.Date.IsZero() || time.Since(m.Date) > time.Minute {
		t.Errorf("Date = %v", m.Date)
	}

	for _, bad := range []Outgoing{
		{To: o.To},
		{From: o.From},
		{From: o.From, To: []Address{{Addr: "not an address"}}},
		{From: Address{Addr: "a@b>\r\nX: y"}, To: o.To},
	} {
		if _, err := Compose(bad); !errors.Is(err, ErrInvalidOutgoing) {
			t.Errorf("Compose(%+v) error = %v, want ErrInvalidOutgoing", bad, err)
		}
	}
}

// TestSend sends a composed mail through go-smtp's client to a real SMTP
// server (our own intake listener standing in for the relay).
func TestSend(t *testing.T) {
	t.Parallel()
	box := &inbox{}
	addr := startSMTP(t, SMTPOptions{SupportAddresses: []string{"alice.nguyen@gmail.com"}}, box.deliver)
	raw, err := Compose(testOutgoing())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Send(ctx, addr, "restore@support.example.com", []string{"alice.nguyen@gmail.com"}, raw); err != nil {
		t.Fatal(err)
	}
	if box.count() != 1 || !strings.HasSuffix(string(box.raws[0]), string(raw)) {
		t.Fatalf("relay got %d mails", box.count())
	}
	if box.envs[0].Helo != "support.example.com" {
		t.Errorf("HELO = %q", box.envs[0].Helo)
	}

	// A refused recipient is a permanent error.
	err = Send(ctx, addr, "restore@support.example.com", []string{"nobody@example.com"}, raw)
	if err == nil || !IsPermanent(err) {
		t.Errorf("Send to refused rcpt: %v, permanent %v", err, IsPermanent(err))
	}
	// A relay that is down is a temporary error.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := l.Addr().String()
	_ = l.Close()
	err = Send(ctx, down, "restore@support.example.com", []string{"alice.nguyen@gmail.com"}, raw)
	if err == nil || IsPermanent(err) {
		t.Errorf("Send to a closed port: %v, permanent %v", err, IsPermanent(err))
	}
	if IsPermanent(&smtp.SMTPError{Code: 451}) {
		t.Error("451 is not permanent")
	}
}

func TestSendRespectsContext(t *testing.T) {
	t.Parallel()
	// A server that accepts and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = Send(ctx, l.Addr().String(), "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\ny\r\n"))
	if err == nil {
		t.Fatal("Send to a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v despite a 200ms context", d)
	}
}

func TestRenderNotices(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 5, 3, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		kind    NoticeKind
		data    NoticeData
		subject string
		has     []string
		hasNot  []string
	}{
		{
			kind:    NoticeAcknowledged,
			data:    NoticeData{TicketID: 42, RequesterName: "Alice", ProjectRef: "proj-abc", Time: when},
			subject: "[Restore #42] We received your restore request",
			has:     []string{"Hello Alice,", "opened ticket #42", "Project:  proj-abc", "Time:     Sunday 3 May 2026, 14:00 UTC", "confirm before anything is changed", "keep [Restore #42] in the subject", "\n-- \n"},
			hasNot:  []string{"Restore:", "How:"},
		},
		{
			kind: NoticeNeedsInfo,
			data: NoticeData{
				TicketID: 42, OriginalSubject: "Re: restore please", ProjectRef: "proj-abx",
				Missing:  []string{FieldProjectRef, FieldScope},
				Problems: []string{"There is no project proj-abx; the closest are: proj-abc, proj-abd."},
			},
			subject: "[Restore #42] Re: restore please",
			has:     []string{"Hello,", "- There is no project proj-abx; the closest are: proj-abc, proj-abd.", "Please tell us:\n- the project ref\n- what to restore (the full database, or which tables)"},
			hasNot:  []string{"the time to restore to", "how to restore"},
		},
		{
			kind:    NoticeStarted,
			data:    NoticeData{TicketID: 7, ApprovedBy: "Sam", ProjectRef: "proj-abc", Scope: Scope{Tables: []string{"public.orders"}}, Mode: ModeNewProject, SnapshotAt: when},
			subject: "[Restore #7] Your restore has started",
			has:     []string{"approved by Sam and has started", "Restore:  table public.orders", "restore into a new project", "Snapshot: Sunday 3 May 2026"},
		},
		{
			kind:    NoticeSucceeded,
			data:    NoticeData{TicketID: 7, Mode: ModeNewProject, NewProjectRef: "proj-abc-restored", NewProjectURL: "https://app.example.com/p/proj-abc-restored", Disabled: []string{"2 pg_cron jobs"}, FinishedIn: 14 * time.Minute},
			subject: "[Restore #7] Your restore is done",
			has:     []string{"is done after 14 minutes", "in a new project: proj-abc-restored\n  https://app.example.com/p/proj-abc-restored", "Your live project was not changed", "- 2 pg_cron jobs"},
			hasNot:  []string{"We replaced"},
		},
		{
			kind:    NoticeSucceeded,
			data:    NoticeData{TicketID: 8, Mode: ModeDestructive, Replaced: "the full database of proj-abc", KeptFor: 7 * 24 * time.Hour, KeptUntil: when.AddDate(0, 0, 7)},
			has:     []string{"We replaced the full database of proj-abc with the restored copy.", "kept for 7 days (until Sunday 10 May 2026, 14:00 UTC)"},
			hasNot:  []string{"new project:"},
			subject: "[Restore #8] Your restore is done",
		},
		{
			kind:    NoticeFailed,
			data:    NoticeData{TicketID: 9, Reason: "the dump of 2026-05-03 is truncated", Mode: ModeDestructive, LiveUnchanged: true},
			subject: "[Restore #9] Your restore failed",
			has:     []string{"failed: the dump of 2026-05-03 is truncated", "Your live project was not changed.", "An engineer is looking at it"},
		},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			subject, text, err := Render(tt.kind, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if subject != tt.subject {
				t.Errorf("subject = %q, want %q", subject, tt.subject)
			}
			for _, s := range tt.has {
				if !strings.Contains(text, s) {
					t.Errorf("text lacks %q:\n%s", s, text)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(text, s) {
					t.Errorf("text has %q:\n%s", s, text)
				}
			}
			if strings.Contains(text, "<no value>") || strings.Contains(text, "\n\n\n") {
				t.Errorf("template leftovers:\n%s", text)
			}
		})
	}
	if _, _, err := Render("nope", NoticeData{}); err == nil {
		t.Error("unknown notice rendered")
	}
}
