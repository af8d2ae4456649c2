package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
	"github.com/restoreportal/portal/internal/web"
)

const intakeSecret = "test-intake-secret"

// intakePortal is the real router with PORTAL_INTAKE_SECRET set (or not) and
// the real workers running in process, so a posted mail becomes a ticket.
func intakePortal(t *testing.T, secret string) (*httptest.Server, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.PortalPool(t)
	cfg := testenv.Config(t)
	cfg.Mail.IntakeSecret = secret
	cfg.Mail.RelayAddr = "" // answers are recorded as not sent
	log := testenv.Logger(t)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log, Queues: jobs.Queues(cfg),
		Workers: jobs.Workers(jobs.Deps{Config: cfg, Pool: pool, Log: log}), FetchCooldown: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rc.Stop(ctx)
	})
	srv := httptest.NewServer(web.New(web.Deps{Config: cfg, Pool: pool, River: rc, Log: log}))
	t.Cleanup(srv.Close)
	tickettest.Snapshots(t, pool, "proj-abc")
	return srv, pool
}

func postMail(t *testing.T, url string, body []byte, ts time.Time, secret string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/intake/email", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "message/rfc822")
	req.Header.Set("Accept", "application/json")
	if secret != "" {
		tsv, sig := mail.Sign([]byte(secret), ts, body)
		req.Header.Set(mail.TimestampHeader, tsv)
		req.Header.Set(mail.SignatureHeader, sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestIntakeEmailSigned posts the Outlook windows-1252 fixture, signed: it is
// stored (202), becomes an email ticket, and a second post of the same mail
// is stored once (200). Bad, stale or missing signatures get 401 and store
// nothing; no login is needed.
func TestIntakeEmailSigned(t *testing.T) {
	t.Parallel()
	srv, pool := intakePortal(t, intakeSecret)
	raw, err := os.ReadFile(filepath.Join("..", "mail", "testdata", "outlook_1252.eml"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	for name, c := range map[string]struct {
		ts     time.Time
		secret string
	}{
		"wrong secret": {now, "not-the-secret"},
		"stale":        {now.Add(-time.Hour), intakeSecret},
		"unsigned":     {now, ""},
	} {
		code, body := postMail(t, srv.URL, raw, c.ts, c.secret)
		if code != http.StatusUnauthorized || !strings.Contains(body, "signature refused") {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	// Signed, but the body changed on the way.
	tsv, sig := mail.Sign([]byte(intakeSecret), now, raw)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/intake/email", bytes.NewReader(append(raw, "tampered"...)))
	req.Header.Set(mail.TimestampHeader, tsv)
	req.Header.Set(mail.SignatureHeader, sig)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered body: %v %v", res.StatusCode, err)
	}
	var stored int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM inbound_mail`).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("refused posts stored %d mails (%v)", stored, err)
	}

	code, body := postMail(t, srv.URL, raw, now, intakeSecret)
	if code != http.StatusAccepted {
		t.Fatalf("signed post: %d %s", code, body)
	}
	var out struct {
		Status string `json:"status"`
		MailID int64  `json:"mail_id"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Status != "stored" || out.MailID == 0 {
		t.Fatalf("answer %s (%v)", body, err)
	}
	if code, body := postMail(t, srv.URL, raw, now, intakeSecret); code != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("second post: %d %s", code, body)
	}

	deadline := time.Now().Add(30 * time.Second)
	var st intake.MailStatus
	for {
		if st, err = intake.MailGet(context.Background(), pool, out.MailID); err != nil {
			t.Fatal(err)
		}
		if st.Status == "processed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Outcome != intake.OutcomeNewTicket {
		t.Fatalf("mail %+v", st)
	}
	tk, err := tickets.TicketGet(context.Background(), pool, st.TicketID)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Source != tickets.SourceEmail || tk.RequesterEmail != "bob@example.de" || !strings.Contains(tk.Subject, "users") {
		t.Errorf("ticket %+v", tk)
	}
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM inbound_mail`).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("stored %d mails, want 1", stored)
	}
}

// TestIntakeEmailOff: without PORTAL_INTAKE_SECRET the endpoint is off (503),
// whatever the post carries.
func TestIntakeEmailOff(t *testing.T) {
	t.Parallel()
	srv, _ := intakePortal(t, "")
	code, body := postMail(t, srv.URL, []byte("Subject: hi\r\n\r\nrestore proj-abc\r\n"), time.Now(), "anything")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "PORTAL_INTAKE_SECRET") {
		t.Errorf("%d %s", code, body)
	}
}
