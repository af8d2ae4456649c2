package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/auth"
)

// AuthPruneArgs is the hourly job that deletes expired sessions, old login
// attempts and the attempt-end records of finished jobs (pruneAttemptEnds).
type AuthPruneArgs struct{}

// Kind is the River job kind.
func (AuthPruneArgs) Kind() string { return "auth_prune" }

// AuthPruneWorker runs auth.Prune and pruneAttemptEnds.
type AuthPruneWorker struct {
	river.WorkerDefaults[AuthPruneArgs]
	d Deps
}

// Work prunes.
func (w *AuthPruneWorker) Work(ctx context.Context, _ *river.Job[AuthPruneArgs]) error {
	sessions, attempts, err := auth.Prune(ctx, w.d.Pool)
	if err != nil {
		return err
	}
	if sessions+attempts > 0 {
		w.d.Log.Info("pruned expired sessions and old login attempts", "sessions", sessions, "login_attempts", attempts)
	}
	ends, err := pruneAttemptEnds(ctx, w.d.Pool)
	if err != nil {
		return err
	}
	if ends > 0 {
		w.d.Log.Info("pruned the attempt-end records of finished jobs", "records", ends)
	}
	return nil
}

func authPrunePeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return AuthPruneArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
