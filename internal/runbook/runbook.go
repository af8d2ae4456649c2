// Package runbook owns the sequence of a restore and of its rollback: the
// four kinds of restore (full or tables scope, destructive or into a new
// project), the undelete, and the two rollbacks, each a series of steps
// recorded in the portal's database before and after each step (the step
// log, the database records, the cut-over, table-swap and undelete records).
// A retried attempt reads those records and carries on from the recorded
// step; it never guesses from names.
//
// It knows nothing of River: the River workers in internal/jobs call Run and
// Rollback, and map what they return to snoozes, cancels and retries. What
// it needs from the job system (scheduling a cleanup, enqueueing a
// re-verification) comes in Deps as functions.
package runbook

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/snapshots"
)

// Deps is what a restore or rollback needs.
type Deps struct {
	Config config.Config
	Pool   *pgxpool.Pool // the portal's database
	S3     *s3.Client
	Log    *slog.Logger
	// StepHook, when set, is called as a restore reaches each Step; an error
	// it returns acts as a failure of that step. Tests inject faults with it.
	StepHook func(ctx context.Context, ticketID int64, step Step) error
	// ScheduleCleanup schedules the drop of a kept copy at a time (the
	// worker inserts a cleanup job). Nil: every schedule fails, which a
	// restore reports as a warning (the periodic sweep drops the copy).
	ScheduleCleanup func(ctx context.Context, c Cleanup, at time.Time) error
	// EnqueueVerify asks for the re-verification of a snapshot whose object
	// changed after it was verified. Nil: the sync's sweep does it.
	EnqueueVerify func(ctx context.Context, v snapshots.ToVerify)
	// OnRead, when set, is told what each apply read from S3 (compressed
	// bytes, ranged resumes), for the worker's metrics.
	OnRead func(bytes int64, resumes int)
}

func (d Deps) snapshots() snapshots.Deps {
	return snapshots.NewDeps(d.Config, d.Pool, d.S3, d.Log)
}

func (d Deps) enqueueVerify(ctx context.Context, v snapshots.ToVerify) {
	if d.EnqueueVerify != nil {
		d.EnqueueVerify(ctx, v)
	}
}

// Cleanup is a kept copy to drop once its time is up: a replaced database
// (Database), or a backup schema (Schema in Database). Its fields are those
// of jobs.CleanupArgs.
type Cleanup struct {
	TicketID   int64
	ProjectRef string
	Database   string
	Schema     string
}

func (a Cleanup) what() string {
	if a.Schema != "" {
		return fmt.Sprintf("schema %s in database %s", a.Schema, a.Database)
	}
	return "database " + a.Database
}

// scheduleCleanup schedules the drop of a kept copy at at.
func (d Deps) scheduleCleanup(ctx context.Context, c Cleanup, at time.Time) error {
	if d.ScheduleCleanup == nil {
		return fmt.Errorf("schedule cleanup: %w", errNoScheduler)
	}
	return d.ScheduleCleanup(ctx, c, at)
}

var errNoScheduler = fmt.Errorf("no job scheduler")

// Step names a point of a restore where StepHook is called.
type Step string

// The steps, in order. Before StepCutover a failure leaves the live database
// as it was; after it, the restore has happened and only follow-ups remain.
const (
	StepPrepared  Step = "prepared"   // target or staging database created
	StepApplied   Step = "applied"    // the dump applied into it
	StepVerified  Step = "verified"   // checks done, just before the cut-over
	StepBlocked   Step = "blocked"    // a full cut-over holds connections off, renames not committed
	StepCutover   Step = "cut-over"   // the swap committed, before its record
	StepRecorded  Step = "recorded"   // the cut-over recorded in the portal
	StepFollowUps Step = "follow-ups" // scheduling cleanup
)
