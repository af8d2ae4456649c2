package jobs

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/tickets"
)

// RollbackWorker runs a succeeded restore's rollback (runbook.Rollback) as
// a River job: the project lock, the order and attempt checks, the ticket's
// outcome and the metrics.
type RollbackWorker struct {
	river.WorkerDefaults[tickets.RollbackArgs]
	d Deps
}

// Timeout lets a rollback of large tables take its time.
func (*RollbackWorker) Timeout(*river.Job[tickets.RollbackArgs]) time.Duration { return -1 }

// Work runs one attempt; every step checks first whether an earlier attempt
// already did it.
func (w *RollbackWorker) Work(ctx context.Context, job *river.Job[tickets.RollbackArgs]) error {
	a := job.Args
	log := w.d.Log.With("ticket_id", a.TicketID, "project_ref", a.ProjectRef, "job_id", job.ID)
	lock, ok, err := lockProject(ctx, w.d.Pool, a.ProjectRef, log)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(15 * time.Second)
	}
	lock.endJob, lock.endAttempt = job.ID, job.Attempt // the watchdog reads the attempt's end (lock.go)
	defer lock.unlock()
	t, err := tickets.TicketGet(ctx, w.d.Pool, a.TicketID)
	if err != nil {
		return err
	}
	if t.State != tickets.StateSucceeded || t.Result == nil {
		log.Info("ticket is not a succeeded restore; nothing to roll back", "state", t.State)
		return nil
	}
	var rerr error
	if oerr := tickets.CheckRollbackOrder(ctx, w.d.Pool, t); oerr != nil {
		// A newer restore finished after the request (or the request came
		// by a path that did not check): refused, nothing changed.
		rerr = oerr
	} else if n, max := rescueCount(job.Metadata), cmp.Or(w.d.Config.Worker.RestoreMaxAttempts, 3); n >= max {
		// Its workers died too often: stop, say what is where; a person may
		// request the rollback again.
		rerr = fmt.Errorf("the worker running this rollback stopped %d times (PORTAL_RESTORE_MAX_ATTEMPTS is %d); it was given up. %s",
			n, max, runbook.LeftOnCluster(ctx, w.d.runbook(), t.ID))
	} else {
		rerr = runbook.Rollback(ctx, w.d.runbook(), t, runbook.Attempt{Number: job.Attempt, Log: log})
	}
	if runbook.IsAfterCutover(rerr) {
		// The rollback happened on the cluster; only its record did not
		// follow: River retries, and the retry finishes from the record.
		log.Error("rollback done on the cluster but not recorded yet; retrying", "err", rerr)
		return rerr
	}
	outcome := "rolled_back"
	if rerr != nil {
		outcome = "rollback_failed"
		log.Error("rollback failed", "err", rerr)
	} else {
		log.Info("restore rolled back")
	}
	metricRestores.WithLabelValues(restoreKind(t), outcome).Inc()
	if _, err := tickets.FinishRollback(context.WithoutCancel(ctx), w.d.Pool, t.ID, rerr); err != nil {
		return fmt.Errorf("record rollback on ticket %d: %w", t.ID, err)
	}
	if rerr != nil {
		return river.JobCancel(errFailed{rerr})
	}
	return nil
}
