package intake_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestForwardBelongsToCustomer: a support agent listed in
// PORTAL_MAIL_FORWARDERS forwards Dana's mail (inline, Outlook style, and
// attached): each ticket is Dana's, the acknowledgement goes to Dana, the
// agent is named on the entry. Dana's reply to the acknowledgement and the
// agent's reply by subject tag are both understood.
func TestForwardBelongsToCustomer(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{forwarders: []string{"carol@customer.example"}})
	for _, name := range []string{"forwarded.eml", "outlook_forward.eml", "forward_attached.eml"} {
		s.send("carol@customer.example", fixture(t, name))
	}
	s.settle()
	for _, id := range []string{"fwd-1@customer.example", "outlook-fw-1@customer.example", "attached-fw-1@customer.example"} {
		tk := s.ticket(s.mailByMessageID(id).TicketID)
		if tk.RequesterEmail != "dana@customer.example" || tk.RequesterName != "Dana Smith" {
			t.Errorf("%s: requester %q %q, want Dana", id, tk.RequesterEmail, tk.RequesterName)
		}
		if e := s.entryOf(tk.ID, id); !strings.Contains(e.Body, "[forwarded by carol@customer.example for Dana Smith <dana@customer.example>]") {
			t.Errorf("%s: entry does not name the agent:\n%s", id, e.Body)
		}
	}
	if n := len(s.relay.to("carol@customer.example")); n != 0 {
		t.Errorf("the agent got %d answers", n)
	}
	acks := s.relay.to("dana@customer.example")
	if len(acks) != 3 {
		t.Fatalf("Dana got %d answers, want 3", len(acks))
	}

	tk := s.ticket(s.mailByMessageID("fwd-1@customer.example").TicketID)
	if tk.Mode != tickets.ModeDestructive || tk.State != tickets.StateNew {
		t.Fatalf("forwarded request: %+v", tk)
	}
	var ack *mail.Message
	for _, m := range acks {
		if id, _ := mail.ParseSubjectTag(m.Subject); id == tk.ID {
			ack = m
		}
	}
	if ack == nil {
		t.Fatalf("no answer about ticket %d", tk.ID)
	}
	now := time.Now()
	s.send("dana@customer.example", compose("Dana Smith <dana@customer.example>", "Re: "+ack.Subject,
		"Only the orders table please.", "dana-2@customer.example", ack.MessageID, now))
	s.settle()
	if got := s.ticket(tk.ID); got.Scope.Kind != tickets.ScopeTables || got.Scope.Tables[0] != "public.orders" {
		t.Errorf("Dana's reply was not understood: %+v", got.Scope)
	}
	s.send("carol@customer.example", compose("carol@customer.example", "Re: "+mail.SubjectTag(tk.ID),
		"Dana says: restore into a new project instead.", "carol-2@customer.example", "", now.Add(time.Second)))
	s.settle()
	if got := s.ticket(tk.ID); got.Mode != tickets.ModeNewProject {
		t.Errorf("the agent's reply was not understood: mode %s", got.Mode)
	}
	if ps := s.proposals(tk.ID); len(ps) != 0 {
		t.Errorf("replies of the requester and the agent made proposals: %+v", ps)
	}
}

// TestZoneKeptInAnswers: "2:15pm PST" is stored with the requester's zone
// (America/Los_Angeles) and the answer shows the time in PST with UTC
// beside; the reply that completes the request keeps the suggested
// snapshot.
func TestZoneKeptInAnswers(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(la).AddDate(0, 0, -2)
	for day.Format("MST") != "PST" {
		day = day.AddDate(0, 0, -1)
	}
	at := time.Date(day.Year(), day.Month(), day.Day(), 14, 15, 0, 0, la)
	snapshotAt(t, s, "proj-abc", at.Add(-6*time.Hour))
	written := at.Format("January 2, 2006") + " at 2:15pm PST"
	now := time.Now()
	s.send("ops@tiny.example", compose("ops@tiny.example", "restore", "Please restore proj-abc to "+written+", the full database.",
		"pst-1@tiny.example", "", now))
	s.settle()
	tk := s.ticket(s.mailByMessageID("pst-1@tiny.example").TicketID)
	if tk.RequestedTZ != "America/Los_Angeles" || tk.RequestedAt == nil || !tk.RequestedAt.Equal(at) {
		t.Fatalf("requested %v in %q, want %v in America/Los_Angeles", tk.RequestedAt, tk.RequestedTZ, at)
	}
	if tk.State != tickets.StateNeedsInfo || tk.SnapshotID == 0 {
		t.Fatalf("ticket %+v: want needs_info (no mode) with a suggested snapshot", tk)
	}
	suggested := tk.SnapshotID
	answers := s.relay.to("ops@tiny.example")
	want := "14:15 PST (22:15 UTC)"
	if len(answers) != 1 || !strings.Contains(answers[0].Text, want) {
		t.Fatalf("answer does not show %q:\n%+v", want, answers)
	}
	s.send("ops@tiny.example", compose("ops@tiny.example", "Re: "+answers[0].Subject, "Into a new project please.",
		"pst-2@tiny.example", answers[0].MessageID, now.Add(time.Minute)))
	s.settle()
	tk = s.ticket(tk.ID)
	if tk.State != tickets.StateNew || tk.SnapshotID != suggested || tk.RequestedTZ != "America/Los_Angeles" {
		t.Errorf("completed request: state %s snapshot %d (suggested %d) zone %s", tk.State, tk.SnapshotID, suggested, tk.RequestedTZ)
	}
	answers = s.relay.to("ops@tiny.example")
	if len(answers) != 2 || !strings.Contains(answers[1].Text, want) {
		t.Errorf("second answer does not show %q:\n%+v", want, answers)
	}
}

// snapshotAt adds a verified snapshot of ref taken at at.
func snapshotAt(t *testing.T, s *stack, ref string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	var id int64
	if err := s.pool.QueryRow(ctx, `INSERT INTO snapshots (project_ref, key, size, taken_at, status, verified_at)
		VALUES ($1, $2, 1000, $3, 'verified', now()) RETURNING id`,
		ref, fmt.Sprintf("snapshots/%s/%s.sql.gz", ref, at.UTC().Format("2006-01-02T15-04-05Z")), at).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO snapshot_tables (snapshot_id, position, schema_name, table_name, rows, bytes, has_data)
		VALUES ($1, 0, 'public', 'orders', 10, 500, true)`, id); err != nil {
		t.Fatal(err)
	}
}

// TestNULMailBecomesTicket: NUL bytes in the subject and the body (which
// Postgres text refuses) are dropped from the ticket and its thread and kept
// in the stored raw mail.
func TestNULMailBecomesTicket(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	raw := "From: Dana <dana@customer.example>\r\nTo: " + support + "\r\nSubject: restore\x00 proj-abc\r\n" +
		"Message-ID: <nul-1@customer.example>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\n" +
		"Please restore proj-abc\x00 to yesterday 3pm UTC, full database, into a new project.\r\n"
	s.send("dana@customer.example", []byte(raw))
	s.settle()
	st := s.mailByMessageID("nul-1@customer.example")
	if st.Status != "processed" || st.Outcome != intake.OutcomeNewTicket || st.TicketID == 0 {
		t.Fatalf("NUL mail: %+v", st)
	}
	tk := s.ticket(st.TicketID)
	if tk.Subject != "restore proj-abc" || tk.ProjectRef != "proj-abc" {
		t.Errorf("ticket %q %q", tk.Subject, tk.ProjectRef)
	}
	if e := s.entryOf(tk.ID, "nul-1@customer.example"); strings.Contains(e.Body, "\x00") || !strings.Contains(e.Body, "Please restore proj-abc to yesterday") {
		t.Errorf("entry body %q", e.Body)
	}
	var nuls int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM inbound_mail, generate_series(0, length(raw) - 1) AS i
		WHERE id = $1 AND get_byte(raw, i) = 0`, st.ID).Scan(&nuls); err != nil {
		t.Fatal(err)
	}
	if nuls != 2 {
		t.Errorf("the raw copy keeps %d NUL bytes, want 2", nuls)
	}
	if len(s.relay.to("dana@customer.example")) != 1 {
		t.Errorf("Dana was not answered")
	}
}

// oneAttempt inserts every job with a single attempt, so a failing job
// reaches its last attempt at once.
type oneAttempt struct{ c *river.Client[pgx.Tx] }

func (o oneAttempt) InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return o.c.InsertTx(ctx, tx, args, &river.InsertOpts{Queue: intake.QueueMail, MaxAttempts: 1})
}

// TestUnfiledRecorded: a mail whose processing fails on its last attempt (a
// database fault: a trigger refuses its ticket) is answered 250, stays
// stored, and is listed as not filed with the error; once the fault is gone,
// a retry files it.
func TestUnfiledRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t, stackOptions{})
	if _, err := s.pool.Exec(ctx, `CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.subject LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned ticket refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER poison BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION poison()`); err != nil {
		t.Fatal(err)
	}
	addr := serveSMTP(t, mail.SMTPOptions{Domain: "portal.example.com", SupportAddresses: []string{support}},
		func(ctx context.Context, env mail.Envelope, raw []byte) error {
			_, err := intake.Deliver(ctx, s.pool, oneAttempt{s.river}, intake.ViaSMTP, env, raw)
			return err
		})
	if err := sendSMTP(addr, "dana@customer.example", compose("dana@customer.example", "poison restore",
		"restore proj-abc", "poison-1@customer.example", "", time.Now())); err != nil {
		t.Fatalf("the mail was not accepted: %v", err)
	}
	s.settle()
	st := s.mailByMessageID("poison-1@customer.example")
	if st.Status != intake.StatusFailed || st.TicketID != 0 {
		t.Fatalf("status %+v, want failed", st)
	}
	list, err := intake.UnfiledList(ctx, s.pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != st.ID || !strings.Contains(list[0].Error, "poisoned ticket refused") ||
		list[0].Subject != "poison restore" || list[0].From != "dana@customer.example" {
		t.Fatalf("not-filed list %+v", list)
	}

	if _, err := s.pool.Exec(ctx, `DROP TRIGGER poison ON tickets`); err != nil {
		t.Fatal(err)
	}
	if err := intake.MailRetry(ctx, s.pool, s.river, st.ID); err != nil {
		t.Fatal(err)
	}
	s.settle()
	if st = s.mailByMessageID("poison-1@customer.example"); st.Status != "processed" || st.TicketID == 0 {
		t.Fatalf("after retry %+v", st)
	}
	if list, _ := intake.UnfiledList(ctx, s.pool, 0); len(list) != 0 {
		t.Errorf("still listed after the retry: %+v", list)
	}
	if err := intake.MailRetry(ctx, s.pool, s.river, st.ID); err == nil {
		t.Error("a filed mail was queued again")
	}
}

// TestDeliverCleansEnvelope: NUL and invalid bytes in the envelope (HELO,
// MAIL FROM) do not turn a mail away: it is stored with the text cleaned,
// and the raw bytes as they came.
func TestDeliverCleansEnvelope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t, stackOptions{})
	raw := compose("dana@customer.example", "restore", "restore proj-abc\x00\xff", "env-1@customer.example", "", time.Now())
	d, err := intake.Deliver(ctx, s.pool, s.river, intake.ViaHTTP, mail.Envelope{From: "dana\x00@customer.example",
		Helo: "mx\x00\xfe.example", To: []string{support + "\x00"}}, raw)
	if err != nil || d.MailID == 0 {
		t.Fatalf("deliver: %+v %v", d, err)
	}
	var from, helo string
	var stored []byte
	if err := s.pool.QueryRow(ctx, `SELECT envelope_from, helo, raw FROM inbound_mail WHERE id = $1`, d.MailID).Scan(&from, &helo, &stored); err != nil {
		t.Fatal(err)
	}
	if from != "dana@customer.example" || helo != "mx\uFFFD.example" || string(stored) != string(raw) {
		t.Errorf("stored from %q helo %q, raw kept: %v", from, helo, string(stored) == string(raw))
	}
	s.settle()
	if st, _ := intake.MailGet(ctx, s.pool, d.MailID); st.Status != "processed" || st.TicketID == 0 {
		t.Errorf("not filed: %+v", st)
	}
}

// TestStrandedMailListed: a mail whose processing job ended without filing
// it and without ProcessFailed (cancelled by hand here; a worker killed on
// the last attempt looks the same) is listed as not filed, and a retry files
// it.
func TestStrandedMailListed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t, stackOptions{})
	stop, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.river.Stop(stop); err != nil {
		t.Fatal(err)
	}
	raw := compose("dana@customer.example", "stranded", "restore proj-abc", "stranded-1@customer.example", "", time.Now())
	d, err := intake.Deliver(ctx, s.pool, s.river, intake.ViaSMTP, mail.Envelope{From: "dana@customer.example"}, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now()
		WHERE kind = 'mail_process' AND (args->>'mail_id')::bigint = $1`, d.MailID); err != nil {
		t.Fatal(err)
	}
	list, err := intake.UnfiledList(ctx, s.pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != d.MailID || !strings.Contains(list[0].Error, "ended without filing it") {
		t.Fatalf("not-filed list %+v", list)
	}
	if err := intake.MailRetry(ctx, s.pool, s.river, d.MailID); err != nil {
		t.Fatal(err)
	}
	if list, _ := intake.UnfiledList(ctx, s.pool, 0); len(list) != 0 {
		t.Errorf("a queued mail is still listed: %+v", list)
	}
	var jobs int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'mail_process' AND state = 'available'
		AND (args->>'mail_id')::bigint = $1`, d.MailID).Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("retry queued %d jobs (%v)", jobs, err)
	}
}
