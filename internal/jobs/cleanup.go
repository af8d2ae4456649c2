package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/tickets"
)

// CleanupArgs drops what a restore kept for rollback once its time is up:
// a replaced database (Database), or a backup schema (Schema in Database).
type CleanupArgs struct {
	TicketID   int64  `json:"ticket_id"`
	ProjectRef string `json:"project_ref"`
	Database   string `json:"database"`
	Schema     string `json:"schema,omitempty"`
}

// Kind is the River job kind.
func (CleanupArgs) Kind() string { return "restore_cleanup" }

func (a CleanupArgs) what() string {
	if a.Schema != "" {
		return fmt.Sprintf("schema %s in database %s", a.Schema, a.Database)
	}
	return "database " + a.Database
}

// CleanupWorker drops kept copies. It drops only what the ticket's record
// says the ticket made (a kept copy, a rollback-aside database, a backup
// schema), never the database a project currently lives in.
type CleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	d Deps
}

// Work drops the kept copy if it is still there.
func (w *CleanupWorker) Work(ctx context.Context, job *river.Job[CleanupArgs]) error {
	a := job.Args
	rec, ok, err := tickets.DatabaseRecordOfTicket(ctx, w.d.Pool, a.TicketID, a.Database, a.Schema) // on the cluster it records
	if err != nil {
		return err
	}
	if !ok || rec.TicketID != a.TicketID || rec.State != tickets.RecordMade {
		w.d.Log.Info("nothing recorded to clean up (dropped already, put live by a rollback, or never this ticket's)", "ticket_id", a.TicketID, "what", a.what())
		return nil
	}
	return dropRecorded(ctx, w.d, rec, a.ProjectRef)
}

// dropRecorded drops what rec records, after checking it is a kept copy,
// rollback-aside database or backup schema, and not a project's live
// database.
func dropRecorded(ctx context.Context, d Deps, rec tickets.DatabaseRecord, projectRef string) error {
	switch rec.Purpose {
	case tickets.PurposeKept, tickets.PurposeRollbackAside, tickets.PurposeTableBackup:
	default:
		return river.JobCancel(fmt.Errorf("refusing to clean up %s: not a kept copy", rec))
	}
	if rec.Schema == "" {
		if live, err := projectDatabases(ctx, d); err != nil {
			return err
		} else if ref, isLive := live[rec.Name]; isLive {
			return river.JobCancel(fmt.Errorf("refusing to drop %s: it is project %s's live database", rec.Name, ref))
		}
	}
	cl, err := runbook.ClusterNamed(d.runbook(), rec.Cluster)
	if err != nil {
		return err
	}
	if err := runbook.DropRecorded(ctx, d.runbook(), cl, rec); err != nil {
		return err
	}
	d.Log.Info("kept copy dropped after its retention", "ticket_id", rec.TicketID, "project_ref", projectRef, "what", rec.String())
	return nil
}

// Timeout bounds a drop.
func (*CleanupWorker) Timeout(*river.Job[CleanupArgs]) time.Duration { return 10 * time.Minute }

// CleanupSweepArgs is the periodic job that drops every recorded kept copy
// whose time is up, whether or not its own cleanup job was scheduled (a
// restore whose follow-up failed still gets its copy dropped).
type CleanupSweepArgs struct{}

// Kind is the River job kind.
func (CleanupSweepArgs) Kind() string { return "restore_cleanup_sweep" }

// CleanupSweepWorker runs CleanupSweepArgs.
type CleanupSweepWorker struct {
	river.WorkerDefaults[CleanupSweepArgs]
	d Deps
}

// Work drops what is due.
func (w *CleanupSweepWorker) Work(ctx context.Context, _ *river.Job[CleanupSweepArgs]) error {
	due, err := tickets.DatabaseRecordsDue(ctx, w.d.Pool, time.Now())
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range due {
		if err := dropRecorded(ctx, w.d, rec, ""); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func cleanupSweepPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) {
			return CleanupSweepArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
		},
		&river.PeriodicJobOpts{RunOnStart: true})
}
