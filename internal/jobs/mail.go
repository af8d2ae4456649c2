package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/intake"
	pmail "github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/tickets"
)

// parentWait is how long a reply that overtook the mail it answers waits
// for that mail's ticket before it is filed on its own.
const parentWait = time.Minute

// MailProcessWorker files a stored mail (intake.Process): a new ticket or a
// thread entry, and the answers queued with it.
type MailProcessWorker struct {
	river.WorkerDefaults[intake.ProcessArgs]
	d      Deps
	intake intake.Deps
}

func newMailProcessWorker(d Deps) *MailProcessWorker {
	in := intake.NewDeps(d.Pool, nil, d.Log)
	in.Forwarders, in.RequireDMARC = d.Config.Mail.Forwarders, d.Config.Mail.RequireDMARC
	return &MailProcessWorker{d: d, intake: in}
}

// Work processes one mail.
func (w *MailProcessWorker) Work(ctx context.Context, job *river.Job[intake.ProcessArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return fmt.Errorf("process mail %d: %w", job.Args.MailID, err)
	}
	d := w.intake
	d.Jobs = client
	d.NoWait = time.Since(job.CreatedAt) > parentWait
	res, err := intake.Process(ctx, d, job.Args.MailID)
	if errors.Is(err, intake.ErrParentPending) {
		return river.JobSnooze(time.Second)
	}
	if err != nil && job.Attempt >= job.MaxAttempts {
		// The last attempt: the mail stays stored, listed for staff as not
		// filed, rather than failing forever in silence.
		w.d.Log.Error("mail could not be filed after the last attempt", "mail_id", job.Args.MailID, "err", err)
		if rerr := intake.ProcessFailed(context.WithoutCancel(ctx), w.d.Pool, job.Args.MailID, err); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if err != nil {
		return err
	}
	w.d.Log.Debug("mail processed", "mail_id", job.Args.MailID, "outcome", res.Outcome, "ticket_id", res.TicketID)
	return nil
}

// MailNotifyWorker writes a notification to a ticket's requester and sends it
// through the relay (PORTAL_SMTP_RELAY). A relay that is down is retried by
// River; a permanent refusal (5xx) or no relay at all is recorded on the
// thread as "not sent" and the job ends. Every sent mail becomes a mail_out
// thread entry carrying its Message-ID, so replies thread by it.
type MailNotifyWorker struct {
	river.WorkerDefaults[intake.NotifyArgs]
	d Deps
}

// Timeout bounds one attempt: writing it and one SMTP exchange.
func (w *MailNotifyWorker) Timeout(*river.Job[intake.NotifyArgs]) time.Duration { return time.Minute }

// Work sends one notification.
func (w *MailNotifyWorker) Work(ctx context.Context, job *river.Job[intake.NotifyArgs]) error {
	a := job.Args
	log := w.d.Log.With("ticket_id", a.TicketID, "notice", a.Notice, "job_id", job.ID, "attempt", job.Attempt)
	cfg := w.d.Config.Mail
	o, err := intake.NoticePrepare(ctx, w.d.Pool, intake.NoticeConfig{From: cfg.From, BaseURL: w.d.Config.BaseURL,
		SupportAddresses: cfg.SupportAddresses}, job.ID, a)
	switch {
	case errors.Is(err, intake.ErrNoRecipient):
		log.Info("notice not sent: no person to send it to")
		return nil
	case errors.Is(err, tickets.ErrNotFound):
		log.Info("notice not sent: the ticket is gone")
		return nil
	case err != nil:
		return err
	}
	if o.Status != "pending" {
		return nil // an earlier attempt finished it
	}
	if cfg.RelayAddr == "" {
		log.Warn("notice not sent: no SMTP relay configured (PORTAL_SMTP_RELAY)")
		return intake.NoticeNotSent(ctx, w.d.Pool, o, "no SMTP relay is configured (PORTAL_SMTP_RELAY)")
	}
	err = pmail.SendWith(ctx, cfg.RelayAddr, pmail.RelayOptions{TLS: cfg.RelayTLS, CAFile: cfg.RelayCA,
		User: cfg.RelayUser, Password: cfg.RelayPassword}, o.From, []string{o.To}, o.Raw)
	switch {
	case err == nil:
		log.Info("notice sent", "message_id", o.MessageID)
		return intake.NoticeSent(context.WithoutCancel(ctx), w.d.Pool, o)
	case pmail.IsPermanent(err):
		log.Warn("notice refused by the relay for good", "err", err)
		if rerr := intake.NoticeNotSent(context.WithoutCancel(ctx), w.d.Pool, o, "the relay refused it: "+err.Error()); rerr != nil {
			return rerr
		}
		return river.JobCancel(err)
	case job.Attempt >= job.MaxAttempts:
		log.Error("notice not sent after the last attempt", "err", err)
		if rerr := intake.NoticeNotSent(context.WithoutCancel(ctx), w.d.Pool, o,
			fmt.Sprintf("the relay could not be reached after %d attempts (last: %v)", job.Attempt, err)); rerr != nil {
			return rerr
		}
		return err
	default:
		log.Warn("relay not reachable; River retries", "err", err)
		_ = intake.NoticeAttempt(context.WithoutCancel(ctx), w.d.Pool, o.ID, err)
		return err
	}
}

// notifyRequester queues a notification about a restore the worker just
// moved (started, succeeded, failed). It is best effort: the restore's own
// outcome is on the ticket whatever happens to the mail.
func notifyRequester(ctx context.Context, d Deps, t tickets.Ticket, kind pmail.NoticeKind) {
	if t.Source != tickets.SourceEmail {
		return
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err == nil {
		_, err = client.Insert(context.WithoutCancel(ctx), intake.NotifyArgs{TicketID: t.ID, Notice: kind}, nil)
	}
	if err != nil {
		d.Log.Error("could not queue the requester's notice", "ticket_id", t.ID, "notice", kind, "err", err)
	}
}

func addMailWorkers(w *river.Workers, d Deps) {
	river.AddWorker(w, newMailProcessWorker(d))
	river.AddWorker(w, &MailNotifyWorker{d: d})
}

// The notices the restore worker queues.
const (
	noticeStarted   = pmail.NoticeStarted
	noticeSucceeded = pmail.NoticeSucceeded
	noticeFailed    = pmail.NoticeFailed
)
