package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/mail/smtptest"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

const support = "restore@support.example.com"

// stack is the real intake path on a fresh portal database: the SMTP
// listener delivering to intake.Deliver, River running the real workers in
// process, and a fake relay (another NewSMTPServer) catching what the portal
// sends.
type stack struct {
	t     *testing.T
	pool  *pgxpool.Pool
	cfg   config.Config
	river *river.Client[pgx.Tx]
	smtp  string // the intake listener's address
	relay *relay
}

// relay is the fake outbound relay: it keeps every mail it accepts.
type relay struct {
	addr string
	mu   sync.Mutex
	got  []*mail.Message
	raws [][]byte
}

func (r *relay) deliver(_ context.Context, _ mail.Envelope, raw []byte) error {
	m, err := mail.Parse(raw)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	r.raws = append(r.raws, raw)
	return nil
}

// to returns the mails the relay took for addr.
func (r *relay) to(addr string) []*mail.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*mail.Message
	for _, m := range r.got {
		for _, a := range m.To {
			if strings.EqualFold(a.Addr, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

func (r *relay) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

type stackOptions struct {
	noRelay      bool
	relayAddr    string   // the relay's address, when the test starts it itself
	recipients   []string // the relay accepts only these (others get 550)
	workers      int      // mail queue's workers; 0: production's
	quietLogger  bool
	forwarders   []string // PORTAL_MAIL_FORWARDERS
	requireDMARC bool     // PORTAL_MAIL_REQUIRE_DMARC
}

// requesters are the people of the fixtures and the load test: the relay
// accepts mail for them.
var requesters = []string{"ops@tiny.example", "alice.nguyen@gmail.com", "bob@example.de", "carol@customer.example",
	"francois@exemple.fr", "eve@broken.example", "frank@broken.example", "grace@broken.example", "dana@customer.example"}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	cfg := testenv.Config(t)
	cfg.Mail.SupportAddresses = []string{support}
	cfg.Mail.From = "Restore Portal <" + support + ">"
	cfg.Mail.Forwarders = o.forwarders
	cfg.Mail.RequireDMARC = o.requireDMARC
	log := testenv.Logger(t)
	if o.quietLogger {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &stack{t: t, pool: pool}
	if !o.noRelay {
		rcpts := o.recipients
		if rcpts == nil {
			rcpts = requesters
			for i := range 20 {
				rcpts = append(rcpts, fmt.Sprintf("user%02d@customer.example", i))
			}
		}
		s.relay = &relay{}
		if o.relayAddr != "" {
			s.relay.addr = o.relayAddr
		} else {
			s.relay.addr = serveSMTP(t, mail.SMTPOptions{Domain: "relay.example", SupportAddresses: rcpts, Logger: log}, s.relay.deliver)
		}
		cfg.Mail.RelayAddr = s.relay.addr
	}
	s.cfg = cfg
	queues := jobs.Queues(cfg)
	if o.workers > 0 {
		queues[intake.QueueMail] = river.QueueConfig{MaxWorkers: o.workers}
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:            log,
		Queues:            queues,
		Workers:           jobs.Workers(jobs.Deps{Config: cfg, Pool: pool, Log: log}),
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = rc.Stop(sctx)
	})
	s.river = rc
	s.smtp = serveSMTP(t, mail.SMTPOptions{Domain: "portal.example.com", SupportAddresses: cfg.Mail.SupportAddresses, Logger: log},
		func(ctx context.Context, env mail.Envelope, raw []byte) error {
			_, err := intake.Deliver(ctx, pool, rc, intake.ViaSMTP, env, raw)
			return err
		})
	projectWithSnapshots(t, pool, "proj-abc")
	projectWithSnapshots(t, pool, "proj-alpha")
	return s
}

// serveSMTP runs a mail.NewSMTPServer on a free local port.
func serveSMTP(t *testing.T, opts mail.SMTPOptions, deliver func(context.Context, mail.Envelope, []byte) error) string {
	t.Helper()
	return serveSMTPAt(t, "127.0.0.1:0", opts, deliver)
}

// serveSMTPAt runs a mail.NewSMTPServer on addr.
func serveSMTPAt(t *testing.T, addr string, opts mail.SMTPOptions, deliver func(context.Context, mail.Envelope, []byte) error) string {
	t.Helper()
	return smtptest.Serve(t, mail.NewSMTPServer(addr, opts, deliver), addr)
}

// projectWithSnapshots makes a project with verified snapshots on
// 2026-04-01 (so the fixtures' May 2026 times resolve) and yesterday, each
// holding public.orders, public.customers and auth.users.
func projectWithSnapshots(t *testing.T, pool *pgxpool.Pool, ref string) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $1, 'registered') ON CONFLICT DO NOTHING`, ref); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)} {
		var id int64
		err := pool.QueryRow(ctx, `INSERT INTO snapshots (project_ref, key, size, taken_at, status, verified_at)
			VALUES ($1, $2, 1000, $3, 'verified', now()) RETURNING id`,
			ref, fmt.Sprintf("snapshots/%s/%s.sql.gz", ref, at.Format("2006-01-02T15-04-05Z")), at).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		for pos, tb := range [][2]string{{"public", "orders"}, {"public", "customers"}, {"auth", "users"}} {
			if _, err := pool.Exec(ctx, `INSERT INTO snapshot_tables (snapshot_id, position, schema_name, table_name, rows, bytes, has_data)
				VALUES ($1, $2, $3, $4, 10, 500, true)`, id, pos, tb[0], tb[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "mail", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send delivers raw to the intake listener over SMTP, as a mail server does.
func (s *stack) send(from string, raw []byte) {
	s.t.Helper()
	if err := sendSMTP(s.smtp, from, raw); err != nil {
		s.t.Fatalf("send: %v", err)
	}
}

func sendSMTP(addr, from string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("mx.sender.example"); err != nil {
		return err
	}
	if err := c.SendMail(from, []string{support}, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// settle waits until every job is done (processed mail, sent notices).
func (s *stack) settle() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var open int
		if err := s.pool.QueryRow(context.Background(), `SELECT
				(SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded'))
				+ (SELECT count(*) FROM inbound_mail WHERE status = 'received')`).Scan(&open); err != nil {
			s.t.Fatal(err)
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d jobs or mails still open after 60s", open)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// mailByMessageID returns what became of the stored mail with that id.
func (s *stack) mailByMessageID(id string) intake.MailStatus {
	s.t.Helper()
	var mid int64
	if err := s.pool.QueryRow(context.Background(), `SELECT id FROM inbound_mail WHERE message_id = $1`, id).Scan(&mid); err != nil {
		s.t.Fatalf("stored mail %s: %v", id, err)
	}
	st, err := intake.MailGet(context.Background(), s.pool, mid)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

func (s *stack) ticket(id int64) tickets.Ticket {
	s.t.Helper()
	tk, err := tickets.TicketGet(context.Background(), s.pool, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return tk
}

func (s *stack) thread(id int64) []tickets.Entry {
	s.t.Helper()
	es, err := tickets.EntryListByTicket(context.Background(), s.pool, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return es
}

// systemEntrySays says whether a system entry of the ticket's thread has
// text in its body.
func (s *stack) systemEntrySays(id int64, text string) bool {
	s.t.Helper()
	return slices.ContainsFunc(s.thread(id), func(e tickets.Entry) bool {
		return e.Kind == tickets.EntrySystem && strings.Contains(e.Body, text)
	})
}

// outMailOf returns the latest mail_out entry of a ticket's thread.
func (s *stack) outMailOf(id int64) tickets.Entry {
	s.t.Helper()
	var last tickets.Entry
	for _, e := range s.thread(id) {
		if e.Kind == tickets.EntryMailOut {
			last = e
		}
	}
	if last.ID == 0 {
		s.t.Fatalf("ticket %d: no mail_out entry in %+v", id, s.thread(id))
	}
	return last
}

// compose writes a plain mail as a customer's client would.
func compose(from, subject, body, messageID, inReplyTo string, date time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n", from, support, subject,
		date.Format(time.RFC1123Z), messageID)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", inReplyTo, inReplyTo)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	b.WriteString("\r\n")
	return []byte(b.String())
}
