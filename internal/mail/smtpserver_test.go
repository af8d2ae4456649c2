package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/sync/errgroup"

	"github.com/restoreportal/portal/internal/mail/smtptest"
)

// inbox records what deliver got.
type inbox struct {
	mu   sync.Mutex
	envs []Envelope
	raws [][]byte
	fail error
}

func (b *inbox) deliver(_ context.Context, env Envelope, raw []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.envs = append(b.envs, env)
	b.raws = append(b.raws, raw)
	return nil
}

func (b *inbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.raws)
}

// startSMTP runs NewSMTPServer on a free local port and returns its address.
func startSMTP(t *testing.T, opts SMTPOptions, deliver func(context.Context, Envelope, []byte) error) string {
	t.Helper()
	if opts.SupportAddresses == nil {
		opts.SupportAddresses = []string{"Restore@Support.Example.com"}
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return smtptest.Serve(t, NewSMTPServer("127.0.0.1:0", opts, deliver), "127.0.0.1:0")
}

func dialSMTP(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Hello("client.example.com"); err != nil {
		t.Fatal(err)
	}
	return c
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestSMTPServerDelivers(t *testing.T) {
	t.Parallel()
	box := &inbox{}
	addr := startSMTP(t, SMTPOptions{Domain: "portal.example.com"}, box.deliver)
	raw := readFixture(t, "gmail_reply.eml")

	c := dialSMTP(t, addr)
	// Case differs from the configured address: still accepted.
	if err := c.SendMail("alice.nguyen@gmail.com", []string{"restore@SUPPORT.example.com"}, bytes.NewReader(raw)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	if box.count() != 1 {
		t.Fatalf("deliver called %d times, want 1", box.count())
	}
	got, env := box.raws[0], box.envs[0]
	// The mail arrives byte for byte (CRLF kept), after our trace headers.
	if !bytes.HasSuffix(got, raw) {
		t.Errorf("delivered bytes do not end with the sent message")
	}
	trace := string(got[:len(got)-len(raw)])
	if !strings.HasPrefix(trace, "Return-Path: <alice.nguyen@gmail.com>\r\nReceived: from client.example.com ([127.0.0.1])") ||
		!strings.Contains(trace, "by portal.example.com") {
		t.Errorf("trace headers = %q", trace)
	}
	if env.From != "alice.nguyen@gmail.com" || len(env.To) != 1 || env.To[0] != "restore@SUPPORT.example.com" ||
		env.Helo != "client.example.com" || !strings.HasPrefix(env.RemoteAddr, "127.0.0.1:") || env.ReceivedAt.IsZero() {
		t.Errorf("envelope = %+v", env)
	}
	// What was delivered parses like the original.
	m, err := Parse(got)
	if err != nil || m.MessageID != "CAF=xq3Tn8Q2k+abc123@mail.gmail.com" || m.IsAutomatic {
		t.Errorf("Parse(delivered) = %+v, %v", m, err)
	}
}

func TestSMTPServerRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     SMTPOptions
		rcpts    []string
		body     string
		fail     error
		rcptCode int // code of the last RCPT, 0 if all accepted
		dataCode int // code of the end of DATA, 0 if accepted
	}{
		{
			name:     "unknown recipient gets 550",
			rcpts:    []string{"someone-else@support.example.com"},
			rcptCode: 550,
		},
		{
			name:     "a second, unknown recipient is refused alone",
			rcpts:    []string{"restore@support.example.com", "ceo@support.example.com"},
			rcptCode: 550,
		},
		{
			name:     "too many recipients gets 452",
			opts:     SMTPOptions{MaxRecipients: 1, SupportAddresses: []string{"a@support.example.com", "b@support.example.com"}},
			rcpts:    []string{"a@support.example.com", "b@support.example.com"},
			rcptCode: 452,
		},
		{
			name:     "oversize message gets 552",
			opts:     SMTPOptions{MaxMessageBytes: 1024},
			rcpts:    []string{"restore@support.example.com"},
			body:     "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 200),
			dataCode: 552,
		},
		{
			name:     "deliver failure gets 451 so the sender retries",
			rcpts:    []string{"restore@support.example.com"},
			body:     "Subject: hi\r\n\r\nrestore proj-abc\r\n",
			fail:     errors.New("database down"),
			dataCode: 451,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			box := &inbox{fail: tt.fail}
			addr := startSMTP(t, tt.opts, box.deliver)
			c := dialSMTP(t, addr)
			if err := c.Mail("sender@example.com", nil); err != nil {
				t.Fatal(err)
			}
			var rcptErr error
			for _, r := range tt.rcpts {
				if err := c.Rcpt(r, nil); err != nil {
					rcptErr = err
				}
			}
			if got := smtpCode(rcptErr); got != tt.rcptCode {
				t.Fatalf("RCPT code = %d (%v), want %d", got, rcptErr, tt.rcptCode)
			}
			if tt.rcptCode == 550 {
				if !strings.Contains(rcptErr.Error(), "only accepts mail for the restore support address") {
					t.Errorf("550 message = %q", rcptErr)
				}
			}
			if tt.body == "" {
				return
			}
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(w, tt.body)
			err = w.Close()
			if got := smtpCode(err); got != tt.dataCode {
				t.Fatalf("DATA code = %d (%v), want %d", got, err, tt.dataCode)
			}
			if box.count() != 0 {
				t.Errorf("deliver stored %d mails, want 0", box.count())
			}
			// The session is still usable after a refusal.
			if err := c.Reset(); err != nil {
				t.Errorf("RSET after refusal: %v", err)
			}
		})
	}
}

func TestSMTPServerBounceIsAutomatic(t *testing.T) {
	t.Parallel()
	box := &inbox{}
	addr := startSMTP(t, SMTPOptions{}, box.deliver)
	c := dialSMTP(t, addr)
	body := "From: someone@example.com\r\nSubject: hello\r\nDate: Mon, 4 May 2026 09:00:00 +0000\r\nMessage-ID: <b@x>\r\n\r\nnot delivered\r\n"
	// MAIL FROM:<> is how bounces arrive.
	if err := c.SendMail("", []string{"restore@support.example.com"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if box.envs[0].From != "" {
		t.Errorf("envelope From = %q, want empty", box.envs[0].From)
	}
	m, err := Parse(box.raws[0])
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsAutomatic || !strings.Contains(m.AutomaticReason, "Return-Path") {
		t.Errorf("IsAutomatic = %v (%q), want a bounce", m.IsAutomatic, m.AutomaticReason)
	}
}

func TestSMTPServerDeliverPanicIs451(t *testing.T) {
	t.Parallel()
	addr := startSMTP(t, SMTPOptions{}, func(context.Context, Envelope, []byte) error { panic("boom") })
	c := dialSMTP(t, addr)
	err := c.SendMail("a@example.com", []string{"restore@support.example.com"}, strings.NewReader("Subject: x\r\n\r\ny\r\n"))
	if got := smtpCode(err); got != 451 {
		t.Fatalf("code = %d (%v), want 451", got, err)
	}
}

// TestSMTPServerConcurrent sends many mails over several connections at
// once: each is delivered exactly once. It logs the rate, a small-scale
// version of the load test the issue asks for.
func TestSMTPServerConcurrent(t *testing.T) {
	t.Parallel()
	const conns, perConn = 6, 50
	box := &inbox{}
	addr := startSMTP(t, SMTPOptions{}, box.deliver)
	start := time.Now()
	var g errgroup.Group
	for i := range conns {
		g.Go(func() error {
			c, err := smtp.Dial(addr)
			if err != nil {
				return err
			}
			defer c.Close()
			for j := range perConn {
				msg := fmt.Sprintf("From: load@example.com\r\nMessage-ID: <load-%d-%d@example.com>\r\nSubject: load\r\n\r\nrestore proj-abc\r\n", i, j)
				if err := c.SendMail("load@example.com", []string{"restore@support.example.com"}, strings.NewReader(msg)); err != nil {
					return err
				}
			}
			return c.Quit()
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if box.count() != conns*perConn {
		t.Fatalf("delivered %d, want %d", box.count(), conns*perConn)
	}
	seen := map[string]bool{}
	for _, raw := range box.raws {
		m, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if seen[m.MessageID] {
			t.Errorf("%s delivered twice", m.MessageID)
		}
		seen[m.MessageID] = true
	}
	t.Logf("%d mails over %d connections in %v (%.0f mails/s)", conns*perConn, conns, elapsed, float64(conns*perConn)/elapsed.Seconds())
}

func TestDedupeKey(t *testing.T) {
	t.Parallel()
	box := &inbox{}
	addr := startSMTP(t, SMTPOptions{}, box.deliver)
	noID := "From: a@example.com\r\nSubject: no id\r\n\r\nrestore proj-abc\r\n"
	for range 2 {
		c := dialSMTP(t, addr)
		if err := c.SendMail("a@example.com", []string{"restore@support.example.com"}, strings.NewReader(noID)); err != nil {
			t.Fatal(err)
		}
	}
	if string(StripTrace(box.raws[0])) != noID {
		t.Errorf("StripTrace = %q", StripTrace(box.raws[0]))
	}
	var keys []string
	for _, raw := range box.raws {
		m, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, DedupeKey(m, raw))
	}
	if keys[0] != keys[1] || !strings.HasPrefix(keys[0], "sha256:") {
		t.Errorf("keys of the same mail sent twice: %q", keys)
	}
	other := []byte("From: a@example.com\r\nSubject: other\r\n\r\nx\r\n")
	if DedupeKey(nil, other) == keys[0] {
		t.Error("different mails share a key")
	}
	if got := DedupeKey(&Message{MessageID: "ABC@x"}, nil); got != "mid:ABC@x" {
		t.Errorf("DedupeKey with Message-ID = %q", got)
	}
	if got := StripTrace(other); string(got) != string(other) {
		t.Error("StripTrace changed a mail without our trace")
	}
}
