package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// RollbackWorker undoes a succeeded restore with what it kept: the replaced
// database swaps back in, the backed-up rows go back into their tables, or
// a new project made by the restore is removed.
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
	unlock, _, ok, err := projectLock(ctx, w.d.Pool, a.ProjectRef)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(15 * time.Second)
	}
	defer unlock()
	t, err := tickets.TicketGet(ctx, w.d.Pool, a.TicketID)
	if err != nil {
		return err
	}
	if t.State != tickets.StateSucceeded || t.Result == nil {
		log.Info("ticket is not a succeeded restore; nothing to roll back", "state", t.State)
		return nil
	}
	rerr := w.rollback(ctx, t)
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

func (w *RollbackWorker) rollback(ctx context.Context, t tickets.Ticket) error {
	cl, err := clusterOf(ctx, w.d, t.ProjectRef)
	if err != nil {
		return err
	}
	res := t.Result
	keep := w.d.Config.Worker.KeepFor
	switch {
	case res.KeptDatabase != "":
		// The restored database steps aside, kept in turn, and the old one
		// comes back under the live name.
		live, kept := res.TargetDatabase, res.KeptDatabase
		aside := fmt.Sprintf("%s_rb_t%d", live, t.ID)
		if err := cl.AllowConnections(ctx, live, kept, aside); err != nil {
			return err
		}
		st, err := cl.State(ctx, live, kept, aside)
		switch {
		case st == cluster.SwapDone:
			// An earlier attempt swapped back already.
		case err != nil:
			return err
		default:
			if err := cl.Swap(context.WithoutCancel(ctx), live, kept, aside); err != nil {
				return err
			}
		}
		until := time.Now().Add(keep)
		if err := scheduleCleanup(ctx, CleanupArgs{TicketID: t.ID, ProjectRef: t.ProjectRef, Database: aside}, until); err != nil {
			return err
		}
		_, err = tickets.RecordRollbackKept(ctx, w.d.Pool, t.ID, aside, until, fmt.Sprintf(
			"Database %s is back as %s. The restored database, with everything written to it since the restore, is kept as %s until %s.",
			kept, live, aside, until.UTC().Format("2006-01-02 15:04 UTC")))
		return err
	case len(res.KeptTables) > 0:
		return w.rollbackTables(ctx, cl, t, keep)
	case t.Mode == tickets.ModeNewProject && res.TargetDatabase != "":
		if err := cl.Drop(ctx, res.TargetDatabase); err != nil {
			return err
		}
		return snapshots.ProjectUnregisterRestored(ctx, w.d.Pool, t.TargetRef())
	default:
		return errors.New("the restore kept nothing to roll back to")
	}
}
