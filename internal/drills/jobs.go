package drills

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// QueueDrill is the River queue drills run on (PORTAL_DRILL_CONCURRENCY
// workers), apart from restores so a drill never takes a restore's slot.
const QueueDrill = "drill"

// PriorityLowest is River's lowest priority: a drill waits behind anything
// else that shares its workers.
const PriorityLowest = 4

// ErrDrillQueued is returned when a drill of the project is queued or
// running already.
var ErrDrillQueued = errors.New("a drill of this project is queued or running already")

// JobInserter inserts a River job inside the caller's transaction; the
// portal's insert-only *river.Client[pgx.Tx] satisfies it.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Inserter inserts a River job on its own; the portal's client satisfies it.
type Inserter interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// DrillArgs is the job that drills one project: it restores the newest
// verified snapshot (or SnapshotID) into a scratch database and checks it.
// It carries a ref and ids only, never secrets.
type DrillArgs struct {
	ProjectRef string `json:"project_ref" river:"unique"`
	// SnapshotID pins the snapshot; 0 means the newest verified one when the
	// drill starts.
	SnapshotID int64 `json:"snapshot_id,omitempty"`
	Manual     bool  `json:"manual,omitempty"`
}

// Kind is the River job kind.
func (DrillArgs) Kind() string { return "restore_drill" }

// InsertOpts: the drill queue at the lowest priority, one drill per project
// queued or running at a time. A drill that yields to a restore snoozes; one
// whose worker died is retried.
func (DrillArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDrill, Priority: PriorityLowest, MaxAttempts: 5,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
			rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

// ScheduleArgs is the periodic job that inserts the drills that are due.
type ScheduleArgs struct{}

// Kind is the River job kind.
func (ScheduleArgs) Kind() string { return "restore_drill_schedule" }

// InsertOpts: the default queue, low priority.
func (ScheduleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Priority: PriorityLowest}
}

// HealthArgs is the periodic job (at the sync interval) that evaluates the
// snapshot health of every project, or of one.
type HealthArgs struct {
	Ref string `json:"ref,omitempty"`
}

// Kind is the River job kind.
func (HealthArgs) Kind() string { return "snapshot_health" }

// AlarmMailArgs is the job that mails one alarm to PORTAL_OPS_ADDRESS
// through the mail queue and relay the requester notices use.
type AlarmMailArgs struct {
	AlarmID int64 `json:"alarm_id" river:"unique"`
}

// Kind is the River job kind.
func (AlarmMailArgs) Kind() string { return "health_alarm_mail" }

// QueueMail is intake.QueueMail, the outbound mail queue (not imported to
// keep this package free of the mail intake).
const QueueMail = "mail"

// InsertOpts: the mail queue; a relay outage is ridden out by retries.
func (AlarmMailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMail, MaxAttempts: 12, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// DrillNow queues a manual drill of ref ("drill now"); ErrDrillQueued when
// one is queued or running already.
func DrillNow(ctx context.Context, jobs Inserter, ref string) (int64, error) {
	res, err := jobs.Insert(ctx, DrillArgs{ProjectRef: ref, Manual: true}, nil)
	if err != nil {
		return 0, err
	}
	if res.UniqueSkippedAsDuplicate {
		return res.Job.ID, ErrDrillQueued
	}
	return res.Job.ID, nil
}
