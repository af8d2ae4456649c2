package jobs_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// outbox is a fake SMTP relay (the intake listener of internal/mail, on a
// free port) that keeps what it is given.
type outbox struct {
	mu  sync.Mutex
	got []*mail.Message
}

func (o *outbox) deliver(_ context.Context, _ mail.Envelope, raw []byte) error {
	m, err := mail.Parse(raw)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, m)
	return nil
}

func (o *outbox) wait(t *testing.T, n int) []*mail.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o.mu.Lock()
		got := append([]*mail.Message(nil), o.got...)
		o.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay got %d mails, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMailNotifyRestoreOutcomes: the notices of a restore's end (the ones
// the restore worker queues) are written from the ticket, sent through the
// relay, threaded to the requester's mail, and recorded on the thread.
func TestMailNotifyRestoreOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	snaps := map[string][]tickets.Snapshot{"proj-abc": tickettest.Snapshots(t, pool, "proj-abc"),
		"proj-bcd": tickettest.Snapshots(t, pool, "proj-bcd")}
	op := tickets.UserActor(tickettest.User(t, pool, "op@example.com", auth.RoleOperator), "test")
	ap := tickets.UserActor(tickettest.User(t, pool, "ap@example.com", auth.RoleApprover), "test")

	box := &outbox{}
	srv := mail.NewSMTPServer("127.0.0.1:0", mail.SMTPOptions{SupportAddresses: []string{"req@customer.example"}, Logger: testenv.Logger(t)}, box.deliver)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	cfg := testenv.Config(t)
	cfg.Mail.RelayAddr = l.Addr().String()
	cfg.Mail.From = "Restore Portal <restore@support.example.com>"
	log := testenv.Logger(t)
	// Only the mail queue: the restore jobs Start and Approve insert stay
	// queued; this test plays the restore worker's part.
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log,
		Queues:  map[string]river.QueueConfig{intake.QueueMail: {MaxWorkers: 2}},
		Workers: jobs.Workers(jobs.Deps{Config: cfg, Pool: pool, Log: log}), FetchCooldown: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rc.Stop(sctx)
	})

	// Restores stay queued, and River keeps one per project: one project each.
	newTicket := func(ref, msgID string, mode tickets.Mode) tickets.Ticket {
		t.Helper()
		tk, err := tickets.Create(ctx, pool, nil, intake.Actor, tickets.NewTicket{Source: tickets.SourceEmail, Subject: "restore please",
			RequesterEmail: "Rita <req@customer.example>", ProjectRef: ref,
			Mail: &tickets.Entry{From: "req@customer.example", Subject: "restore please", Body: "restore " + ref, MessageID: msgID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tickets.Prepare(ctx, pool, tickets.SnapshotCatalog(pool), op, tk.ID, tickets.Preparation{SnapshotID: snaps[ref][3].ID,
			Scope: tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.orders"}}, Mode: mode}); err != nil {
			t.Fatal(err)
		}
		if mode == tickets.ModeNewProject {
			_, err = tickets.Start(ctx, pool, rc, op, tk.ID)
		} else {
			if _, err = tickets.Submit(ctx, pool, op, tk.ID); err == nil {
				_, err = tickets.Approve(ctx, pool, rc, ap, tk.ID, ref)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if tk, err = tickets.MarkRunning(ctx, pool, tk.ID, 0); err != nil {
			t.Fatal(err)
		}
		return tk
	}

	// A new-project restore succeeds: the requester learns the new project.
	ok := newTicket("proj-abc", "ask-1@customer.example", tickets.ModeNewProject)
	if _, err := tickets.Finish(ctx, pool, ok.ID, tickets.Result{OK: true, Message: "done", TargetDatabase: ok.TargetRef()}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Insert(ctx, intake.NotifyArgs{TicketID: ok.ID, Notice: mail.NoticeSucceeded}, nil); err != nil {
		t.Fatal(err)
	}
	m := box.wait(t, 1)[0]
	if id, found := mail.ParseSubjectTag(m.Subject); !found || id != ok.ID {
		t.Errorf("subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, ok.TargetRef()) || m.InReplyTo != "ask-1@customer.example" {
		t.Errorf("success notice (In-Reply-To %q):\n%s", m.InReplyTo, m.Text)
	}
	// The relay has the mail before the worker records it on the thread.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		entries, err := tickets.EntryListByTicket(ctx, pool, ok.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := entries[len(entries)-1]
		if last.Kind == tickets.EntryMailOut && last.MessageID == m.MessageID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread does not end with the sent mail: %+v", last)
		}
	}

	// A destructive restore fails: the reason, and that nothing changed.
	bad := newTicket("proj-bcd", "ask-2@customer.example", tickets.ModeDestructive)
	if _, err := tickets.Finish(ctx, pool, bad.ID, tickets.Result{OK: false, Message: "the dump is truncated"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Insert(ctx, intake.NotifyArgs{TicketID: bad.ID, Notice: mail.NoticeFailed}, nil); err != nil {
		t.Fatal(err)
	}
	m = box.wait(t, 2)[1]
	if !strings.Contains(m.Text, "the dump is truncated") || !strings.Contains(m.Text, "not changed") || m.InReplyTo != "ask-2@customer.example" {
		t.Errorf("failure notice:\n%s", m.Text)
	}
}
