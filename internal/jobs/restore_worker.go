package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/tickets"
)

// RestoreWorker runs a ticket's restore (runbook.Run) as a River job: it
// takes the project lock, moves the ticket to running, and maps the
// attempt's outcome to River's snooze, cancel and retry, with the metrics.
type RestoreWorker struct {
	river.WorkerDefaults[tickets.RestoreArgs]
	d Deps
}

// Timeout lets a restore run as long as it needs; it watches ctx.
func (*RestoreWorker) Timeout(*river.Job[tickets.RestoreArgs]) time.Duration { return -1 }

// errFailed marks an error already recorded on the ticket: River must not
// retry (a person retries from the ticket).
type errFailed struct{ err error }

func (e errFailed) Error() string { return e.err.Error() }
func (e errFailed) Unwrap() error { return e.err }

// Work runs one attempt.
func (w *RestoreWorker) Work(ctx context.Context, job *river.Job[tickets.RestoreArgs]) error {
	a := job.Args
	log := w.d.Log.With("ticket_id", a.TicketID, "project_ref", a.ProjectRef, "job_id", job.ID, "attempt", job.Attempt)
	lock, ok, err := lockProject(ctx, w.d.Pool, a.ProjectRef, log)
	if err != nil {
		return w.earlyFault(ctx, job, err)
	}
	if !ok {
		log.Info("another restore of this project holds its lock; waiting")
		return river.JobSnooze(15 * time.Second)
	}
	lock.jobID, lock.attempt, lock.retryFor, lock.log = job.ID, job.Attempt, w.retryFor(), log
	lock.endJob, lock.endAttempt = job.ID, job.Attempt
	defer lock.unlock()

	t, err := tickets.TicketGet(ctx, w.d.Pool, a.TicketID)
	if err != nil {
		return w.earlyFault(ctx, job, err)
	}
	switch {
	case t.State == tickets.StateRunning && t.JobID == job.ID:
		if n := rescueCount(job.Metadata); n >= w.maxAttempts() {
			if give, err := w.mayGiveUp(ctx, t); err != nil {
				return err
			} else if give {
				return w.giveUp(ctx, t, n, log)
			}
			log.Warn("the worker died too often, but a cut-over is recorded: finishing it", "rescues", n)
		}
		switch f := readFault(job.Metadata); {
		case t.Progress != nil && t.Progress.Phase == tickets.PhaseAwaitingCutover:
			// A deliberate pause (runbook/staged.go) that looks at its review again.
			log.Debug("a restore paused for its staged review looks at the review")
		case !f.Since.IsZero():
			log.Warn("retrying a restore after a Postgres fault", "fault_since", f.Since, "retries", f.Retries, "last_error", f.Error)
		default:
			log.Warn("resuming a restore whose previous attempt ended abruptly")
		}
	case t.State == tickets.StateQueued:
		if t, err = tickets.MarkRunning(ctx, w.d.Pool, t.ID, job.ID); err != nil {
			var te *tickets.TransitionError
			if errors.As(err, &te) {
				log.Info("ticket no longer queued; nothing to do", "err", err)
				return nil
			}
			return w.earlyFault(ctx, job, err)
		}
		notifyRequester(ctx, w.d, t, noticeStarted)
	case t.State == tickets.StateCancelled && t.JobID == job.ID:
		// Cancelled while the job waited out a Postgres fault: no attempt
		// was running to drop its staging database, so this one does.
		if err := runbook.DropCancelledStaging(ctx, w.d.runbook(), t, lock.held, log); err != nil && runbook.MayBePGFault(err) {
			if snooze, giveUp := w.retryFault(ctx, job, err, false); giveUp == nil {
				return snooze // the cluster is still away: drop it when it is back
			}
			log.Error("the cancelled ticket's staging database could not be dropped; drop it by hand", "err", err)
		}
		return nil
	default:
		log.Info("ticket is not queued or running for this job; nothing to do", "state", t.State)
		return nil
	}

	start := time.Now()
	kind := restoreKind(t)
	o, err := runbook.Run(ctx, w.d.runbook(), t, runbook.Attempt{Number: job.Attempt, Log: log, Alive: lock.alive, Held: lock.held})
	res := o.Result

	outcome := "succeeded"
	defer func() {
		metricRestores.WithLabelValues(kind, outcome).Inc()
		metricRestoreSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	}()
	switch {
	case err == nil:
		res.OK = true
		res.Message = fmt.Sprintf("%s finished in %s. %s", kind, time.Since(start).Round(time.Second), res.Message)
		if _, err := tickets.Finish(context.WithoutCancel(ctx), w.d.Pool, t.ID, res); err != nil {
			return fmt.Errorf("record success on ticket %d: %w", t.ID, err)
		}
		notifyRequester(ctx, w.d, t, noticeSucceeded)
		log.Info("restore succeeded", "duration", time.Since(start).Round(time.Millisecond))
		return nil
	case errors.Is(err, runbook.ErrAwaitingCutover):
		outcome = "paused"
		return river.JobSnooze(runbook.StagedPoll) // runbook/staged.go
	case runbook.IsReviewEnded(err):
		outcome = "abandoned"
		return w.fail(ctx, t, err, res)
	case o.Cancelled:
		outcome = "cancelled"
		log.Info("restore cancelled from the ticket; staging removed")
		return nil
	case o.Interrupted:
		// The worker is shutting down: leave the ticket running; River retries.
		outcome = "interrupted"
		return err
	case runbook.IsAfterCutover(err):
		// The live database was replaced; only recording it failed. River
		// retries, and the retry finishes from the record. A Postgres fault
		// is retried (snoozed) for as long as it lasts: the ticket cannot
		// fail any more.
		outcome = "interrupted"
		log.Error("restore done on the cluster but not recorded yet; retrying", "err", err)
		if o.Transient(ctx, err) {
			f := readFault(job.Metadata)
			_ = river.MetadataSet(ctx, faultErrorKey, truncate(err.Error(), 2000))
			_ = river.MetadataSet(ctx, faultRetriesKey, f.Retries+1)
			return river.JobSnooze(faultBackoff(f.Retries))
		}
		return err
	case o.Transient(ctx, err):
		snooze, giveUp := w.retryFault(ctx, job, err, o.Progressed)
		if giveUp == nil {
			outcome = "interrupted"
			log.Warn("Postgres fault; the restore is retried from its record", "err", err)
			o.NoteFault(ctx, err)
			return snooze
		}
		err = giveUp
		outcome = "failed"
		log.Error("restore failed", "err", err)
		return w.fail(ctx, t, err, res)
	default:
		outcome = "failed"
		log.Error("restore failed", "err", err)
		return w.fail(ctx, t, err, res)
	}
}

// fail records a failed restore on its ticket and ends the job for good.
func (w *RestoreWorker) fail(ctx context.Context, t tickets.Ticket, err error, res tickets.Result) error {
	msg := err.Error()
	// A copy kept for a retry of a confirmed staged review goes now.
	if derr := runbook.DropReviewedCopy(context.WithoutCancel(ctx), w.d.runbook(), t, w.d.Log); derr != nil {
		w.d.Log.Error("could not drop the reviewed copy of a failed restore", "ticket_id", t.ID, "err", derr)
	}
	if left := runbook.LeftOnCluster(ctx, w.d.runbook(), t.ID); !strings.HasPrefix(left, "Nothing") {
		msg += " " + left
	}
	if _, ferr := tickets.Finish(context.WithoutCancel(ctx), w.d.Pool, t.ID, tickets.Result{OK: false, Message: msg, Warnings: res.Warnings, Steps: res.Steps}); ferr != nil {
		return fmt.Errorf("%w (and recording it on the ticket failed: %v)", err, ferr)
	}
	notifyRequester(ctx, w.d, t, noticeFailed)
	return river.JobCancel(errFailed{err})
}

func restoreKind(t tickets.Ticket) string { return runbook.Kind(t) }

// earlyFault handles an error met before the attempt began its work (taking
// the lock, reading the ticket: the portal's database only, so a broken
// stream is its): a Postgres fault is snoozed within the window, anything
// else is River's to retry.
func (w *RestoreWorker) earlyFault(ctx context.Context, job *river.Job[tickets.RestoreArgs], err error) error {
	if !runbook.MayBePGFault(err) || ctx.Err() != nil {
		return err
	}
	snooze, giveUp := w.retryFault(ctx, job, err, false)
	if giveUp != nil {
		return giveUp // the portal's database is unreachable: nothing can be recorded
	}
	w.d.Log.Warn("Postgres fault before the restore began; retrying", "job_id", job.ID, "err", err)
	return snooze
}
