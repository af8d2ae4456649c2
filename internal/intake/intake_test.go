package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestOneLineRequest: "please restore proj-abc to yesterday" (a day of May
// 2026) makes an email ticket for proj-abc in needs_info; the answer asks
// for exactly what is missing, carries the subject tag and a Message-ID
// minted by the portal, and is on the thread.
func TestOneLineRequest(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	s.send("ops@tiny.example", fixture(t, "oneline.eml"))
	s.settle()

	st := s.mailByMessageID("20260505074500.1@tiny.example")
	if st.Outcome != intake.OutcomeNewTicket || st.TicketID == 0 || st.EntryID == 0 {
		t.Fatalf("mail status %+v", st)
	}
	tk := s.ticket(st.TicketID)
	if tk.Source != tickets.SourceEmail || tk.ProjectRef != "proj-abc" || tk.RequesterEmail != "ops@tiny.example" {
		t.Errorf("ticket %+v", tk)
	}
	if tk.State != tickets.StateNeedsInfo {
		t.Errorf("state %s, want needs_info (no mode given)", tk.State)
	}
	if !s.systemEntrySays(tk.ID, "Project: proj-abc (certain") {
		t.Errorf("no system entry saying how the project was found: %+v", s.thread(tk.ID))
	}
	got := s.relay.to("ops@tiny.example")
	if len(got) != 1 {
		t.Fatalf("relay got %d mails for the requester, want 1", len(got))
	}
	m := got[0]
	if id, ok := mail.ParseSubjectTag(m.Subject); !ok || id != tk.ID {
		t.Errorf("answer subject %q has no tag of ticket %d", m.Subject, tk.ID)
	}
	if !strings.Contains(m.Subject, "[Restore #") {
		t.Errorf("subject tag is not [Restore #N]: %q", m.Subject)
	}
	if m.InReplyTo != "20260505074500.1@tiny.example" {
		t.Errorf("answer In-Reply-To %q", m.InReplyTo)
	}
	if !strings.Contains(m.Text, mail.FieldLabel(mail.FieldMode)) {
		t.Errorf("answer does not ask for the mode:\n%s", m.Text)
	}
	if out := s.outMailOf(tk.ID); out.MessageID != m.MessageID || !strings.HasSuffix(m.MessageID, "@support.example.com") {
		t.Errorf("thread mail_out %q, sent %q", out.MessageID, m.MessageID)
	}
}

// TestFixtures sends every fixture over SMTP: each is stored once and
// becomes a ticket (malformed ones too, saying what could not be read), or,
// for automatic mail without a ticket, is only recorded and never answered.
func TestFixtures(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	for _, name := range []string{"forward_attached.eml", "forwarded.eml", "html_only.eml", "malformed_boundary.eml",
		"malformed_charset.eml", "malformed_header.eml", "no_headers.eml", "outlook_1252.eml", "outlook_forward.eml",
		"autoreply.eml", "bounce.eml"} {
		s.send("sender@mx.example", fixture(t, name))
	}
	s.settle()
	var stored int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM inbound_mail`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 11 {
		t.Errorf("stored %d mails, want 11", stored)
	}
	check := func(msgID, outcome string) intake.MailStatus {
		t.Helper()
		st := s.mailByMessageID(msgID)
		if st.Outcome != outcome {
			t.Errorf("%s: outcome %q, want %q (%+v)", msgID, st.Outcome, outcome, st)
		}
		return st
	}
	// Bob's mail in windows-1252 asks for the users table.
	bob := check("DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.outlook.com", intake.OutcomeNewTicket)
	if tk := s.ticket(bob.TicketID); !strings.Contains(tk.RequesterName, "Müller") {
		t.Errorf("requester name %q not decoded from windows-1252", tk.RequesterName)
	}
	// A forwarded request: the ticket is the forwarder's, the request the
	// forwarded text's.
	fwd := check("fwd-1@customer.example", intake.OutcomeNewTicket)
	if tk := s.ticket(fwd.TicketID); tk.RequesterEmail != "carol@customer.example" {
		t.Errorf("forwarded: requester %q", tk.RequesterEmail)
	}
	html := check("html-only-1@exemple.fr", intake.OutcomeNewTicket)
	if e := s.thread(html.TicketID)[0]; e.Kind != tickets.EntryMailIn || strings.Contains(e.Body, "<p>") {
		t.Errorf("html-only mail not shown as text: %+v", e)
	}
	charset := check("charset-1@broken.example", intake.OutcomeNewTicket)
	var said bool
	for _, e := range s.thread(charset.TicketID) {
		said = said || strings.Contains(e.Body, "What could not be read") || strings.Contains(e.Body, "Could not be read")
	}
	if !said {
		t.Errorf("malformed mail's ticket does not say what could not be read: %+v", s.thread(charset.TicketID))
	}
	check("hdr-1@broken.example", intake.OutcomeNewTicket)
	// Automatic mail with no ticket of ours: recorded, no ticket, no answer.
	check("oof-1@example.de", intake.OutcomeAutomaticUnmatched)
	check("20260504170003.5C1A2B3C4D@mx.support.example.com", intake.OutcomeAutomaticUnmatched)
	for _, robot := range []string{"MAILER-DAEMON@mx.support.example.com", "mailer-daemon@mx.support.example.com"} {
		if n := len(s.relay.to(robot)); n != 0 {
			t.Errorf("%d mails sent to %s", n, robot)
		}
	}
	var tks int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM tickets`).Scan(&tks); err != nil {
		t.Fatal(err)
	}
	if tks != 9 {
		t.Errorf("%d tickets, want 9 (11 mails less the 2 automatic ones)", tks)
	}
}

// TestReplyThreads: a request missing its mode is asked about; the Gmail
// reply (HTML with quoted history) threads by In-Reply-To to the portal's
// question, fills the fields and the ticket goes back to triage with an
// acknowledgement; an auto-reply to the acknowledgement and a bounce of it
// land on the thread and are not answered.
func TestReplyThreads(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	now := time.Now()
	s.send("alice.nguyen@gmail.com", compose("Alice Nguyen <alice.nguyen@gmail.com>", "restore please",
		"Hi, please restore proj-abc.\nThanks", "first-1@mail.gmail.com", "", now))
	s.settle()
	first := s.mailByMessageID("first-1@mail.gmail.com")
	if tk := s.ticket(first.TicketID); tk.State != tickets.StateNeedsInfo {
		t.Fatalf("state %s", tk.State)
	}
	question := s.outMailOf(first.TicketID)

	// The Gmail reply of the fixtures, answering our real question.
	reply := fixture(t, "gmail_reply.eml")
	reply = bytes.ReplaceAll(reply, []byte("restore.lx1.aaaa@portal.example.com"), []byte(question.MessageID))
	reply = bytes.ReplaceAll(reply, []byte("[Restore #42]"), []byte(mail.SubjectTag(first.TicketID)))
	s.send("alice.nguyen@gmail.com", reply)
	s.settle()
	st := s.mailByMessageID("CAF=xq3Tn8Q2k+abc123@mail.gmail.com")
	if st.Outcome != intake.OutcomeReply || st.TicketID != first.TicketID {
		t.Fatalf("reply: %+v, want a reply on ticket %d", st, first.TicketID)
	}
	tk := s.ticket(first.TicketID)
	if tk.Scope.Kind != tickets.ScopeTables || len(tk.Scope.Tables) != 1 || tk.Scope.Tables[0] != "public.orders" {
		t.Errorf("scope %+v, want public.orders", tk.Scope)
	}
	if tk.Mode != tickets.ModeNewProject || tk.RequestedAt == nil {
		t.Errorf("mode %s, time %v", tk.Mode, tk.RequestedAt)
	}
	// "2pm PST" as written: UTC-8.
	if want := time.Date(2026, 5, 3, 22, 0, 0, 0, time.UTC); tk.RequestedAt != nil && !tk.RequestedAt.Equal(want) {
		t.Errorf("time %s, want %s (2pm PST)", tk.RequestedAt.UTC(), want)
	}
	if tk.State != tickets.StateNew {
		t.Errorf("state %s, want new (back to triage)", tk.State)
	}
	var replyEntry tickets.Entry
	for _, e := range s.thread(tk.ID) {
		if e.MessageID == "CAF=xq3Tn8Q2k+abc123@mail.gmail.com" {
			replyEntry = e
		}
	}
	if replyEntry.Kind != tickets.EntryMailIn || strings.Contains(replyEntry.Body, "We need a little more") {
		t.Errorf("reply entry %+v: quoted history should be stripped", replyEntry)
	}
	got := s.relay.to("alice.nguyen@gmail.com")
	if len(got) != 2 || !strings.Contains(strings.ToLower(got[1].Text), "proj-abc") {
		t.Fatalf("relay got %d mails for alice, want the question and an acknowledgement", len(got))
	}
	ack := got[1]
	if ack.InReplyTo != "CAF=xq3Tn8Q2k+abc123@mail.gmail.com" {
		t.Errorf("acknowledgement In-Reply-To %q", ack.InReplyTo)
	}

	// An out-of-office answer to the acknowledgement: on the thread, never
	// answered.
	before := s.relay.count()
	oof := fixture(t, "autoreply.eml")
	oof = bytes.ReplaceAll(oof, []byte("restore.lx1.bbbb@portal.example.com"), []byte(ack.MessageID))
	oof = bytes.ReplaceAll(oof, []byte("[Restore #42]"), []byte(mail.SubjectTag(tk.ID)))
	s.send("bob@example.de", oof)
	s.settle()
	if st := s.mailByMessageID("oof-1@example.de"); st.Outcome != intake.OutcomeAutomatic || st.TicketID != tk.ID || !st.Automatic {
		t.Errorf("auto-reply: %+v", st)
	}
	// A bounce of the acknowledgement: found by the Message-ID it reports,
	// on the thread, never answered.
	bounce := fixture(t, "bounce.eml")
	bounce = bytes.ReplaceAll(bounce, []byte("restore.lx1.cccc@portal.example.com"), []byte(ack.MessageID))
	s.send("", bounce)
	s.settle()
	if st := s.mailByMessageID("20260504170003.5C1A2B3C4D@mx.support.example.com"); st.Outcome != intake.OutcomeAutomatic || st.TicketID != tk.ID {
		t.Errorf("bounce: %+v", st)
	}
	if s.relay.count() != before {
		t.Errorf("the auto-reply or the bounce was answered")
	}
}

// TestReplyBySubjectTag: a reply whose client dropped In-Reply-To finds its
// ticket by the subject tag.
func TestReplyBySubjectTag(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	now := time.Now()
	at := now.Add(-30*time.Hour).UTC().Format("2006-01-02 15:04") + " UTC"
	s.send("carol@customer.example", compose("carol@customer.example", "restore", "Please restore proj-alpha to "+at+", full database, overwrite the live project.",
		"c1@customer.example", "", now))
	s.settle()
	first := s.mailByMessageID("c1@customer.example")
	tk := s.ticket(first.TicketID)
	if tk.State != tickets.StateNew || tk.Mode != tickets.ModeDestructive || tk.ProjectRef != "proj-alpha" || tk.RequestedAt == nil {
		t.Fatalf("complete request: %+v", tk)
	}
	if tk.SnapshotID == 0 {
		t.Errorf("no snapshot suggested for %s", tk.RequestedAt)
	}
	s.send("carol@customer.example", compose("carol@customer.example", "Re: "+mail.SubjectTag(tk.ID)+" thanks",
		"Sorry, only the customers table please.", "c2@customer.example", "", now.Add(time.Minute)))
	s.settle()
	st := s.mailByMessageID("c2@customer.example")
	if st.Outcome != intake.OutcomeReply || st.TicketID != tk.ID {
		t.Fatalf("reply by tag: %+v", st)
	}
	if tk = s.ticket(tk.ID); tk.Scope.Kind != tickets.ScopeTables || tk.Scope.Tables[0] != "public.customers" {
		t.Errorf("scope %+v", tk.Scope)
	}
	// Someone else copying the tag adds to the thread but changes nothing.
	s.send("eve@broken.example", compose("eve@broken.example", "Re: "+mail.SubjectTag(tk.ID),
		"restore auth.users instead", "e1@broken.example", "", now.Add(2*time.Minute)))
	s.settle()
	if tk = s.ticket(tk.ID); tk.Scope.Tables[0] != "public.customers" {
		t.Errorf("a stranger's mail changed the scope: %+v", tk.Scope)
	}
}

// TestUnknownRefAndEarlyTime: the reply names the unknown ref and asks to
// check it, without naming any other customer's ref (staff see the closest
// refs on the ticket's note, and the ticket keeps the ref written); a time
// before the first snapshot is answered with the earliest one.
func TestUnknownRefAndEarlyTime(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	s.send("dana@customer.example", compose("dana@customer.example", "restore proj-abd",
		"Restore proj-abd to 2026-05-03 14:00 UTC, full database, into a new project.", "d1@customer.example", "", time.Now()))
	s.send("ops@tiny.example", compose("ops@tiny.example", "restore proj-abc",
		"Restore proj-abc to 2025-01-03 14:00 UTC, full database, into a new project.", "o1@tiny.example", "", time.Now()))
	s.settle()
	d := s.relay.to("dana@customer.example")
	if len(d) != 1 || !strings.Contains(d[0].Text, "We could not find project proj-abd; please check the ref.") {
		t.Fatalf("unknown ref answer: %+v", d)
	}
	for _, other := range []string{"proj-abc", "proj-alpha"} {
		if strings.Contains(d[0].Text, other) || strings.Contains(d[0].Subject, other) {
			t.Errorf("the answer to dana names another customer's project %s:\n%s", other, d[0].Text)
		}
	}
	dt := s.ticket(s.mailByMessageID("d1@customer.example").TicketID)
	if dt.ProjectRef != "proj-abd" {
		t.Errorf("ticket project %q, want the ref written, proj-abd", dt.ProjectRef)
	}
	if !s.systemEntrySays(dt.ID, "candidates: proj-abc") {
		t.Errorf("no staff note naming the closest refs: %+v", s.thread(dt.ID))
	}
	o := s.relay.to("ops@tiny.example")
	if len(o) != 1 || !strings.Contains(o[0].Text, "before the first snapshot") || !strings.Contains(o[0].Text, "2026-04-01 00:00 UTC") {
		t.Errorf("early time answer: %+v", o)
	}
	for _, id := range []string{"d1@customer.example", "o1@tiny.example"} {
		if tk := s.ticket(s.mailByMessageID(id).TicketID); tk.State != tickets.StateNeedsInfo {
			t.Errorf("%s: state %s", id, tk.State)
		}
	}
}

// TestDuplicateStoredOnce: the same Message-ID twice (a sender retrying) is
// stored once and makes one ticket.
func TestDuplicateStoredOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	raw := fixture(t, "oneline.eml")
	s.send("ops@tiny.example", raw)
	s.send("ops@tiny.example", raw)
	s.settle()
	s.send("ops@tiny.example", raw)
	s.settle()
	var mails, tks int
	if err := s.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM inbound_mail), (SELECT count(*) FROM tickets)`).Scan(&mails, &tks); err != nil {
		t.Fatal(err)
	}
	if mails != 1 || tks != 1 {
		t.Errorf("%d mails, %d tickets; want 1 and 1", mails, tks)
	}
	if n := len(s.relay.to("ops@tiny.example")); n != 1 {
		t.Errorf("%d answers, want 1", n)
	}
}

// TestNoRelay: without PORTAL_SMTP_RELAY the answer is written, recorded on
// the thread as not sent, and the job ends.
func TestNoRelay(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noRelay: true})
	s.send("ops@tiny.example", fixture(t, "oneline.eml"))
	s.settle()
	tk := s.mailByMessageID("20260505074500.1@tiny.example").TicketID
	var seen bool
	for _, e := range s.thread(tk) {
		seen = seen || (e.Kind == tickets.EntrySystem && strings.HasPrefix(e.Subject, "Mail NOT sent") && strings.Contains(e.Body, "PORTAL_SMTP_RELAY"))
	}
	if !seen {
		t.Errorf("no 'not sent' entry: %+v", s.thread(tk))
	}
	outs, err := intake.OutboundListByTicket(context.Background(), s.pool, tk)
	if err != nil || len(outs) != 1 || outs[0].Status != "not_sent" {
		t.Errorf("outbound %+v %v", outs, err)
	}
}

// TestRelayRefusesForGood: a 5xx from the relay stops the job at once and
// says so on the thread.
func TestRelayRefusesForGood(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{recipients: []string{"someone-else@example.com"}})
	s.send("ops@tiny.example", fixture(t, "oneline.eml"))
	s.settle()
	tk := s.mailByMessageID("20260505074500.1@tiny.example").TicketID
	outs, err := intake.OutboundListByTicket(context.Background(), s.pool, tk)
	if err != nil || len(outs) != 1 || outs[0].Status != "not_sent" {
		t.Fatalf("outbound %+v %v", outs, err)
	}
	var state string
	if err := s.pool.QueryRow(context.Background(), `SELECT state FROM river_job WHERE kind = 'mail_notify'`).Scan(&state); err != nil || state != "cancelled" {
		t.Errorf("notify job %q %v, want cancelled", state, err)
	}
}

// TestRelayOutage: while the relay is down the notice waits in River's
// retries (pending, attempts counted); once the relay is back the same mail
// (same Message-ID) is sent and recorded.
func TestRelayOutage(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there: the relay is down
	s := newStack(t, stackOptions{relayAddr: addr})
	s.send("ops@tiny.example", fixture(t, "oneline.eml"))
	tk := int64(0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var attempts int
		err := s.pool.QueryRow(context.Background(), `SELECT ticket_id, attempts FROM outbound_mail`).Scan(&tk, &attempts)
		if err == nil && attempts > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt recorded (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before, err := intake.OutboundListByTicket(context.Background(), s.pool, tk)
	if err != nil || len(before) != 1 || before[0].Status != "pending" {
		t.Fatalf("during the outage: %+v %v", before, err)
	}
	serveSMTPAt(t, addr, mail.SMTPOptions{Domain: "relay.example", SupportAddresses: requesters}, s.relay.deliver)
	s.settle()
	got := s.relay.to("ops@tiny.example")
	if len(got) != 1 || got[0].MessageID != before[0].MessageID {
		t.Fatalf("after the outage the relay got %d mails (want the one written before, %s)", len(got), before[0].MessageID)
	}
	if out := s.outMailOf(tk); out.MessageID != before[0].MessageID {
		t.Errorf("thread mail_out %q", out.MessageID)
	}
}

// TestNoMailToRobotsOrSelf: a request from a no-reply robot or from the
// portal's own support address makes a ticket but is never answered.
func TestNoMailToRobotsOrSelf(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{recipients: []string{support, "noreply@customer.example"}})
	for i, from := range []string{support, "noreply@customer.example"} {
		s.send(from, compose(from, "restore proj-abc", "please restore proj-abc", fmt.Sprintf("self-%d@example.com", i), "", time.Now()))
	}
	s.settle()
	for i := range 2 {
		if st := s.mailByMessageID(fmt.Sprintf("self-%d@example.com", i)); st.Outcome != intake.OutcomeNewTicket {
			t.Errorf("mail %d: %+v", i, st)
		}
	}
	if n := s.relay.count(); n != 0 {
		t.Errorf("%d mails sent to a robot or to the portal itself", n)
	}
}
