package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/runbook"
)

// River rescues a stuck job only after the job's timeout, and never when the
// timeout is off, as it is for restores (they run for hours). So restores
// carry their own liveness signal: the per-project advisory lock, held on a
// session of the attempt's worker for as long as the attempt runs, and gone
// the moment that worker's connection dies (kill -9, node loss). The
// watchdog hands a running restore whose lock is free back to the queue.

// WatchdogArgs is the periodic job that rescues restores of dead workers.
type WatchdogArgs struct{}

// Kind is the River job kind.
func (WatchdogArgs) Kind() string { return "restore_watchdog" }

// InsertOpts makes one watchdog at a time.
func (WatchdogArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Second}}
}

// WatchdogWorker looks for running restore and rollback jobs older than
// PORTAL_RESCUE_AFTER whose project lock nobody holds.
type WatchdogWorker struct {
	river.WorkerDefaults[WatchdogArgs]
	d Deps
}

// Work rescues what it finds.
func (w *WatchdogWorker) Work(ctx context.Context, job *river.Job[WatchdogArgs]) error {
	settled, serr := SettleDeadCutovers(ctx, w.d)
	if settled > 0 {
		w.d.Log.Warn("cut-overs of dead workers settled from their records", "count", settled)
	}
	n, err := RescueDeadRestores(ctx, w.d.Pool, w.d.Config.Worker.RescueAfter)
	if n > 0 {
		w.d.Log.Warn("restores of dead workers handed back to the queue", "count", n)
	}
	return errors.Join(serr, err)
}

func watchdogPeriodicJob(d Deps) *river.PeriodicJob {
	every := min(d.Config.Worker.RescueAfter, 30*time.Second)
	return river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return WatchdogArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// lockKey is the advisory lock of a project's restores.
func lockKey(ref string) int64 {
	h := fnv.New64a()
	h.Write([]byte("restore:" + ref))
	return int64(h.Sum64())
}

// lockFree reports whether no session holds the advisory lock key: it takes
// the lock on conn and, if it got it, gives it straight back. A running job
// whose lock is free has lost its worker, since the lock goes with the
// worker's session (RescueDeadRestores with lockKey, RescueDeadDrills with
// drillLockKey).
func lockFree(ctx context.Context, conn *pgxpool.Conn, key int64) (bool, error) {
	var free bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&free); err != nil || !free {
		return false, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
		return false, err
	}
	return true, nil
}

// RescueDeadRestores makes available again every running restore or
// rollback job attempted more than after ago whose project lock is free, and
// returns how many it rescued. It counts the rescues in the job's metadata
// (portal:rescue_count); the restore worker reads the count and fails the
// ticket after PORTAL_RESTORE_MAX_ATTEMPTS of them.
//
// It and RescueDeadDrills are the two places the portal writes River's
// river_job table (tickets cancels and wakes jobs through River's
// JobCancelTx and JobRetryTx): River's
// client API cannot do this (JobRetry and JobCancel leave a running job
// alone, since its worker might still be alive; JobUpdate sets only a job's
// output; River's own rescuer skips jobs whose timeout is negative, and
// restores have none). Re-checked against River v0.51.1; TestRescueDeadRestores
// covers it.
func RescueDeadRestores(ctx context.Context, pool *pgxpool.Pool, after time.Duration) (int, error) {
	return rescueFreeLocked(ctx, pool, "restores", `SELECT id, attempt, max_attempts, args->>'project_ref' FROM river_job
		WHERE kind IN ('restore', 'restore_rollback') AND state = 'running' AND attempted_at < now() - $1::interval`,
		after, lockKey, func(ctx context.Context, conn *pgxpool.Conn, j stuckJob) (pgconn.CommandTag, error) {
			note, _ := json.Marshal(map[string]any{
				"at": time.Now().UTC(), "attempt": j.attempt,
				"error": "the worker running this attempt stopped (its project lock was released without the job ending); handed to another worker",
			})
			// In the same statement as the count: an attempt whose worker
			// recorded its end (lock.go, just before its unlock) is not dead, only
			// not yet marked done by River; it is handed back, uncounted, only if
			// River has still not recorded its end after `after`.
			tag, err := conn.Exec(ctx, `WITH ended AS (
					SELECT e.ended_at FROM job_attempt_ends e JOIN river_job j ON j.id = e.job_id AND j.attempt = e.attempt WHERE j.id = $1)
				UPDATE river_job SET state = 'available', scheduled_at = now(),
				errors = array_append(errors, $2::jsonb),
				metadata = metadata || jsonb_build_object($3::text, coalesce((metadata->>$3::text)::int, 0) +
					CASE WHEN EXISTS (SELECT 1 FROM ended) THEN 0 ELSE 1 END)
				WHERE id = $1 AND state = 'running'
				  AND NOT EXISTS (SELECT 1 FROM ended WHERE ended_at > now() - $4::interval)`, j.id, note, rescueMetadataKey, after.String())
			if err != nil {
				return tag, fmt.Errorf("rescue job %d: %w", j.id, err)
			}
			return tag, nil
		})
}

// stuckJob is a running job a rescue found: its id, attempt, attempts
// allowed, and the project whose lock tells whether its worker lives.
type stuckJob struct {
	id                   int64
	attempt, maxAttempts int
	ref                  string
}

// rescueFreeLocked is the loop RescueDeadRestores and RescueDeadDrills
// share: find (with $1 the interval after) lists the running jobs attempted
// more than after ago as id, attempt, max_attempts, project ref; rescue is
// called, on one connection, for each whose lock (key of its ref) is free,
// and the rows it changed are counted. what names the jobs in an error.
func rescueFreeLocked(ctx context.Context, pool *pgxpool.Pool, what, find string, after time.Duration, key func(ref string) int64,
	rescue func(context.Context, *pgxpool.Conn, stuckJob) (pgconn.CommandTag, error)) (int, error) {
	rows, err := pool.Query(ctx, find, after.String())
	if err != nil {
		return 0, fmt.Errorf("find running %s: %w", what, err)
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stuckJob, error) {
		var s stuckJob
		return s, r.Scan(&s.id, &s.attempt, &s.maxAttempts, &s.ref)
	})
	if err != nil || len(found) == 0 {
		return 0, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	rescued := 0
	for _, j := range found {
		free, err := lockFree(ctx, conn, key(j.ref))
		if err != nil {
			return rescued, err
		}
		if !free {
			continue // its worker is alive and working
		}
		tag, err := rescue(ctx, conn, j)
		if err != nil {
			return rescued, err
		}
		rescued += int(tag.RowsAffected())
	}
	return rescued, nil
}

// SettleDeadCutovers settles every open cut-over record whose project lock is
// free (its worker is gone), and returns how many it settled
// (runbook.SettleDeadCutovers, with the workers' project lock).
func SettleDeadCutovers(ctx context.Context, d Deps) (int, error) {
	return runbook.SettleDeadCutovers(ctx, d.runbook(), func(ctx context.Context, ref string) (func(), bool, error) {
		unlock, _, ok, err := projectLock(ctx, d.Pool, ref, d.Log)
		return unlock, ok, err
	})
}
