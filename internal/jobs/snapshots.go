package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/verify"
)

// The snapshot catalog's workers: sync, verify, capture (one project, or the
// daily fan-out) and retention. They call internal/snapshots; this file only
// adds River's side (enqueueing, uniqueness, queues).

func (d Deps) snapshots() snapshots.Deps {
	return snapshots.NewDeps(d.Config, d.Pool, d.S3, d.Log)
}

// uniqueByArgs inserts a job once while one with the same args is queued,
// running or done.
var uniqueByArgs = &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}

// oneAtATime skips inserting a periodic job while the previous one is still
// queued or running (a slow full sync outlasting the interval).
var oneAtATime = &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}

// verifyParams turns snapshots to verify into River insert params.
func verifyParams(snaps []snapshots.ToVerify) []river.InsertManyParams {
	params := make([]river.InsertManyParams, len(snaps))
	for i, s := range snaps {
		params[i] = river.InsertManyParams{Args: snapshots.VerifyArgs{SnapshotID: s.ID, ETag: s.ETag}, InsertOpts: uniqueByArgs}
	}
	return params
}

func addSnapshotWorkers(w *river.Workers, d Deps) {
	river.AddWorker(w, &syncWorker{d: d})
	river.AddWorker(w, &verifyWorker{d: d})
	river.AddWorker(w, &captureWorker{d: d})
	river.AddWorker(w, &captureAllWorker{d: d})
	river.AddWorker(w, &pruneWorker{d: d})
}

func snapshotPeriodicJobs(d Deps) []*river.PeriodicJob {
	jobs := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(d.Config.Snapshots.SyncInterval),
			func() (river.JobArgs, *river.InsertOpts) { return snapshots.SyncArgs{}, oneAtATime },
			&river.PeriodicJobOpts{ID: "snapshot_sync", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return snapshots.PruneArgs{}, oneAtATime },
			&river.PeriodicJobOpts{ID: "snapshot_prune"}),
	}
	if at, err := snapshots.ParseDailyAt(d.Config.Snapshots.CaptureSchedule); err == nil {
		jobs = append(jobs, river.NewPeriodicJob(at,
			func() (river.JobArgs, *river.InsertOpts) { return snapshots.CaptureAllArgs{}, nil },
			&river.PeriodicJobOpts{ID: "snapshot_capture_all"}))
	}
	return jobs
}

// InsertSyncNow enqueues a full sync of one project ("Sync now").
//
// Deprecated: use snapshots.InsertSyncNow, which the portal calls without
// linking the worker.
func InsertSyncNow(ctx context.Context, rc *river.Client[pgx.Tx], ref string) error {
	return snapshots.InsertSyncNow(ctx, rc, ref)
}

// InsertCaptureNow enqueues a manual capture of one project ("Snapshot now").
//
// Deprecated: use snapshots.InsertCaptureNow.
func InsertCaptureNow(ctx context.Context, rc *river.Client[pgx.Tx], ref string) error {
	return snapshots.InsertCaptureNow(ctx, rc, ref)
}

type syncWorker struct {
	river.WorkerDefaults[snapshots.SyncArgs]
	d Deps
}

func (w *syncWorker) Timeout(*river.Job[snapshots.SyncArgs]) time.Duration { return time.Hour }

func (w *syncWorker) Work(ctx context.Context, job *river.Job[snapshots.SyncArgs]) error {
	sd := w.d.snapshots()
	opts := snapshots.SyncOptions{Ref: job.Args.Ref, Full: job.Args.Full}
	if opts.Ref == "" && !opts.Full {
		last, err := snapshots.SyncLastFull(ctx, sd.Pool)
		if err != nil {
			return err
		}
		opts.Full = time.Since(last) >= snapshots.FullSyncEvery
	}
	rc, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	opts.OnChanged = func(ctx context.Context, tx pgx.Tx, snaps []snapshots.ToVerify) error {
		_, err := rc.InsertManyTx(ctx, tx, verifyParams(snaps))
		return err
	}
	if _, err := snapshots.Sync(ctx, sd, opts); err != nil {
		return err
	}
	// Sweep: verification jobs lost or discarded long ago are inserted again
	// (uniqueness by args makes this a no-op for jobs still known).
	stuck, err := snapshots.SnapshotListPending(ctx, sd.Pool, time.Now().Add(-time.Hour), 1000)
	if err != nil || len(stuck) == 0 {
		return err
	}
	toVerify := make([]snapshots.ToVerify, len(stuck))
	for i, s := range stuck {
		toVerify[i] = snapshots.ToVerify{ID: s.ID, ETag: s.ETag}
	}
	_, err = rc.InsertMany(ctx, verifyParams(toVerify))
	return err
}

type verifyWorker struct {
	river.WorkerDefaults[snapshots.VerifyArgs]
	d Deps
}

func (w *verifyWorker) Work(ctx context.Context, job *river.Job[snapshots.VerifyArgs]) error {
	_, err := verify.Snapshot(ctx, w.d.snapshots(), job.Args.SnapshotID)
	if errors.Is(err, snapshots.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}

type captureWorker struct {
	river.WorkerDefaults[snapshots.CaptureArgs]
	d Deps
}

func (w *captureWorker) Work(ctx context.Context, job *river.Job[snapshots.CaptureArgs]) error {
	_, err := verify.Capture(ctx, w.d.snapshots(), job.Args.Ref, job.Args.Manual)
	switch {
	case errors.Is(err, snapshots.ErrNotFound), errors.Is(err, snapshots.ErrNotCapturable):
		return river.JobCancel(err)
	}
	return err
}

type captureAllWorker struct {
	river.WorkerDefaults[snapshots.CaptureAllArgs]
	d Deps
}

func (w *captureAllWorker) Work(ctx context.Context, job *river.Job[snapshots.CaptureAllArgs]) error {
	refs, err := snapshots.ProjectRefsRegistered(ctx, w.d.Pool)
	if err != nil || len(refs) == 0 {
		return err
	}
	day := time.Now().UTC().Format(time.DateOnly)
	params := make([]river.InsertManyParams, len(refs))
	for i, ref := range refs {
		params[i] = river.InsertManyParams{Args: snapshots.CaptureArgs{Ref: ref, Day: day},
			InsertOpts: &river.InsertOpts{Queue: QueueCapture, UniqueOpts: river.UniqueOpts{ByArgs: true}}}
	}
	rc, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	if _, err := rc.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("enqueue daily captures: %w", err)
	}
	return nil
}

type pruneWorker struct {
	river.WorkerDefaults[snapshots.PruneArgs]
	d Deps
}

func (w *pruneWorker) Work(ctx context.Context, job *river.Job[snapshots.PruneArgs]) error {
	_, err := snapshots.Prune(ctx, w.d.snapshots(), w.d.Config.Snapshots.RetentionKeep, job.Args.Ref)
	keepFor := cmp.Or(w.d.Config.Snapshots.SafetyKeepFor, w.d.Config.Worker.KeepFor, 7*24*time.Hour)
	_, serr := snapshots.PruneSafety(ctx, w.d.snapshots(), keepFor, time.Now(), job.Args.Ref)
	var uerr error
	if job.Args.Ref == "" {
		_, uerr = snapshots.AbortStaleUploads(ctx, w.d.snapshots(), snapshots.StaleUploadAge, time.Now())
	}
	return errors.Join(err, serr, uerr)
}
