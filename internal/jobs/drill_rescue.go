package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// A drill runs with no timeout (River's own stuck-job rescuer skips such
// jobs), so like a restore it carries its own liveness signal: a session
// advisory lock of its own ("drill:<ref>", which no restore waits for), held
// on a portal connection of the attempt for as long as it runs and gone the
// moment that worker dies (kill -9, node loss). The drill rescue hands a
// running drill whose lock is free back to the queue after
// PORTAL_RESCUE_AFTER, as the watchdog does for restores; the next attempt
// drops the dead attempt's recorded scratch database (dropStale).

// errDrillLockLost ends an attempt whose lock session died: the rescue may
// hand the job to another worker, and two attempts must not run at once.
var errDrillLockLost = errors.New("the drill's lock session was lost; the drill is retried")

func drillLockKey(ref string) int64 {
	h := fnv.New64a()
	h.Write([]byte("drill:" + ref))
	return int64(h.Sum64())
}

// holdDrillLock takes ref's drill lock for the attempt. held is false when
// another session holds it (another attempt still runs). The returned
// context is cancelled (cause errDrillLockLost) if the lock's session dies;
// release gives the lock back.
func (w *DrillWorker) holdDrillLock(ctx context.Context, ref string, jobID int64, attempt int, log *slog.Logger) (context.Context, func(), bool, error) {
	conn, err := w.d.Pool.Acquire(ctx)
	if err != nil {
		return ctx, nil, false, err
	}
	key := drillLockKey(ref)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
		conn.Release()
		return ctx, nil, false, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	// Not periodic.Every: its stop ends the context of a ping in flight, and
	// a cancelled query closes the lock's session before release can record
	// the attempt's end on it. Here release waits for the ping instead.
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(cmp.Or(w.d.Drill.WatchEvery, time.Second))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				log.Warn("the drill's lock session was lost; stopping the drill", "err", err)
				cancel(errDrillLockLost)
				return
			}
		}
	}()
	release := func() {
		close(done)
		<-stopped
		cancel(nil)
		uctx, ucancel := context.WithTimeout(context.Background(), unlockTimeout)
		defer ucancel()
		// The attempt's end, before the unlock: between the unlock and River
		// recording the job's end, RescueDeadDrills would otherwise read a
		// free lock on a running job as a dead worker and run the drill again.
		if _, err := conn.Exec(uctx, `INSERT INTO job_attempt_ends (job_id, attempt) VALUES ($1, $2) ON CONFLICT DO NOTHING`, jobID, attempt); err != nil {
			log.Warn("could not record the drill attempt's end; the drill rescue may hand the job back once", "err", err)
		}
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			_ = conn.Conn().Close(uctx) // the lock goes with the session
			conn.Hijack()
			return
		}
		conn.Release()
	}
	return ctx, release, true, nil
}

// DrillRescueArgs is the periodic job that rescues drills of dead workers.
type DrillRescueArgs struct{}

// Kind is the River job kind.
func (DrillRescueArgs) Kind() string { return "restore_drill_rescue" }

// InsertOpts makes one rescue at a time.
func (DrillRescueArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Second}}
}

type drillRescueWorker struct {
	river.WorkerDefaults[DrillRescueArgs]
	d Deps
}

func (w *drillRescueWorker) Work(ctx context.Context, job *river.Job[DrillRescueArgs]) error {
	n, err := RescueDeadDrills(ctx, w.d.Pool, w.d.Config.Worker.RescueAfter)
	if n > 0 {
		w.d.Log.Warn("drills of dead workers handed back to the queue", "count", n)
	}
	return err
}

// addDrillRescue registers the drill rescue's worker and periodic job (the
// one hook in the drill set-up, drill_health.go).
func addDrillRescue(w *river.Workers, d Deps) *river.PeriodicJob {
	if w != nil {
		river.AddWorker(w, &drillRescueWorker{d: d})
	}
	return river.NewPeriodicJob(river.PeriodicInterval(min(d.Config.Worker.RescueAfter, 30*time.Second)),
		func() (river.JobArgs, *river.InsertOpts) { return DrillRescueArgs{}, nil },
		&river.PeriodicJobOpts{ID: "restore_drill_rescue", RunOnStart: true})
}

// RescueDeadDrills makes available again every running drill job attempted
// more than after ago whose drill lock is free, and returns how many it
// rescued; one that has used all its attempts is discarded instead (its
// record is settled by the next drill of the project). Like
// RescueDeadRestores it writes river_job, for the same reason: River's API
// leaves a running job alone, and its rescuer skips jobs without a timeout.
func RescueDeadDrills(ctx context.Context, pool *pgxpool.Pool, after time.Duration) (int, error) {
	return rescueFreeLocked(ctx, pool, "drills", `SELECT id, attempt, max_attempts, args->>'project_ref' FROM river_job
		WHERE kind = 'restore_drill' AND state = 'running' AND attempted_at < now() - $1::interval`,
		after, drillLockKey, func(ctx context.Context, conn *pgxpool.Conn, j stuckJob) (pgconn.CommandTag, error) {
			note, _ := json.Marshal(map[string]any{"at": time.Now().UTC(), "attempt": j.attempt,
				"error": "the worker running this drill stopped (its drill lock was released without the job ending); handed to another worker"})
			state := "available"
			if j.attempt >= j.maxAttempts {
				state = "discarded"
			}
			// An attempt whose worker recorded its end (holdDrillLock's release,
			// just before its unlock) is not dead, only not yet marked done by
			// River: it is handed back only if River has still not recorded the
			// end after `after`.
			tag, err := conn.Exec(ctx, `UPDATE river_job SET state = $2::river_job_state, scheduled_at = now(),
				finalized_at = CASE WHEN $2 = 'discarded' THEN now() END, errors = array_append(errors, $3::jsonb)
				WHERE id = $1 AND state = 'running'
				  AND NOT EXISTS (SELECT 1 FROM job_attempt_ends e
					WHERE e.job_id = river_job.id AND e.attempt = river_job.attempt AND e.ended_at > now() - $4::interval)`, j.id, state, note, after.String())
			if err != nil {
				return tag, fmt.Errorf("rescue drill job %d: %w", j.id, err)
			}
			return tag, nil
		})
}
