// Package jobs holds the River workers: snapshot sync, verification, capture
// and retention, restores, cleanup and mail. Job args live in their domain
// packages; the workers here call into those domains.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// Deps is what the workers need, built by cmd/worker.
type Deps struct {
	Config config.Config
	Pool   *pgxpool.Pool // the portal's database
	S3     *s3.Client
	Log    *slog.Logger
	// StepHook, when set, is called as a restore reaches each Step; an error
	// it returns acts as a failure of that step. Tests inject faults with it.
	StepHook func(ctx context.Context, ticketID int64, step Step) error
	// Drill tunes the drill worker (drill.go); zero is production's.
	Drill DrillOptions
}

// Step names a point of a restore where StepHook is called (runbook.Step).
type Step = runbook.Step

// The steps of the restore and rollback sequences (runbook), by their names
// of before the move.
const (
	StepPrepared          = runbook.StepPrepared
	StepApplied           = runbook.StepApplied
	StepVerified          = runbook.StepVerified
	StepBlocked           = runbook.StepBlocked
	StepCutover           = runbook.StepCutover
	StepRecorded          = runbook.StepRecorded
	StepFollowUps         = runbook.StepFollowUps
	StepSafetySnapshot    = runbook.StepSafetySnapshot
	StepRegistered        = runbook.StepRegistered
	StepBackedUp          = runbook.StepBackedUp
	StepSwapLoaded        = runbook.StepSwapLoaded
	StepSwapCommitting    = runbook.StepSwapCommitting
	StepSwapCommitted     = runbook.StepSwapCommitted
	StepMerged            = runbook.StepMerged
	StepRollbackPrepared  = runbook.StepRollbackPrepared
	StepRollbackBlocked   = runbook.StepRollbackBlocked
	StepRollbackCutover   = runbook.StepRollbackCutover
	StepRollbackRecorded  = runbook.StepRollbackRecorded
	StepRollbackFollowUps = runbook.StepRollbackFollowUps
)

// runbook is what the restore and rollback sequences need, with River's
// part as functions: a cleanup is a job inserted with the running job's
// client, a changed snapshot's re-verification too.
func (d Deps) runbook() runbook.Deps {
	return runbook.Deps{
		Config: d.Config, Pool: d.Pool, S3: d.S3, Log: d.Log, StepHook: d.StepHook,
		ScheduleCleanup: func(ctx context.Context, c runbook.Cleanup, at time.Time) error {
			return scheduleCleanup(ctx, CleanupArgs(c), at)
		},
		EnqueueVerify: d.enqueueVerify,
		OnRead: func(bytes int64, resumes int) {
			metricRestoreBytes.Add(float64(bytes))
			metricS3Resumes.Add(float64(resumes))
		},
	}
}

// scheduleCleanup inserts the job that drops a kept copy after its time.
func scheduleCleanup(ctx context.Context, args CleanupArgs, at time.Time) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return fmt.Errorf("schedule cleanup: %w", err)
	}
	if _, err := client.Insert(ctx, args, &river.InsertOpts{ScheduledAt: at}); err != nil {
		return fmt.Errorf("schedule cleanup of %s: %w", args.what(), err)
	}
	return nil
}

// Workers registers every worker.
func Workers(d Deps) *river.Workers {
	w := river.NewWorkers()
	addSnapshotWorkers(w, d)
	river.AddWorker(w, &RestoreWorker{d: d})
	river.AddWorker(w, &RollbackWorker{d: d})
	river.AddWorker(w, &CleanupWorker{d: d})
	river.AddWorker(w, &CleanupSweepWorker{d: d})
	river.AddWorker(w, &WatchdogWorker{d: d})
	river.AddWorker(w, &AuthPruneWorker{d: d})
	river.AddWorker(w, &ApprovalLapseWorker{d: d})
	addMailWorkers(w, d)
	addDrillWorkers(w, d)
	return w
}

// PeriodicJobs are the schedules the worker runs (sync, capture, cleanup).
func PeriodicJobs(d Deps) []*river.PeriodicJob {
	var jobs []*river.PeriodicJob
	jobs = append(jobs, snapshotPeriodicJobs(d)...)
	jobs = append(jobs, watchdogPeriodicJob(d), authPrunePeriodicJob(), cleanupSweepPeriodicJob(), approvalLapsePeriodicJob())
	jobs = append(jobs, drillPeriodicJobs(d)...)
	return jobs
}

// Queues are the worker's queues and how many jobs of each run at once.
// Restores and rollbacks have a queue and slots of their own, so a restore
// approved at the capture hour does not wait behind the day's pg_dumps.
func Queues(cfg config.Config) map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		river.QueueDefault: {MaxWorkers: 4},
		QueueRestore:       {MaxWorkers: cfg.Worker.Concurrency},
		QueueCapture:       {MaxWorkers: max(cfg.Worker.CaptureConcurrency, 1)},
		intake.QueueMail:   {MaxWorkers: 4},
		drills.QueueDrill:  DrillQueue(cfg.Drills.Concurrency),
	}
}

// QueueRestore runs restores and rollbacks only (tickets.QueueRestore).
const QueueRestore = tickets.QueueRestore

// QueueCapture runs captures (pg_dump to S3), the other long jobs.
const QueueCapture = snapshots.QueueCapture
