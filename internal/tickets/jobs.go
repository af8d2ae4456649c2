package tickets

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// QueueRestore is the River queue of restores and rollbacks (internal/jobs
// runs it with PORTAL_WORKER_CONCURRENCY workers).
const QueueRestore = "restore"

// JobInserter inserts a River job inside the caller's transaction; the
// portal's insert-only *river.Client[pgx.Tx] satisfies it.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// uniqueByProject makes River refuse a second restore or rollback of a project
// while one is pending, queued or running. Completed, cancelled and discarded
// jobs do not block the next one.
var uniqueByProject = river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled},
}

// RestoreArgs is the job that performs a ticket's restore. It carries ids and
// names only, never secrets: the worker reads the ticket (snapshot, scope,
// mode, options) and its own configuration for credentials.
type RestoreArgs struct {
	TicketID   int64  `json:"ticket_id"`
	ProjectRef string `json:"project_ref" river:"unique"`
	SnapshotID int64  `json:"snapshot_id"`
	Mode       Mode   `json:"mode"`
}

// Kind is the River job kind.
func (RestoreArgs) Kind() string { return "restore" }

// InsertOpts puts restores on the restore queue, one per project at a time.
// A restore that fails is reported on the ticket and not retried by River (a
// person retries from the ticket); the extra attempts are for a worker that
// died mid-restore, whose job River rescues and another worker resumes.
func (RestoreArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueRestore, MaxAttempts: 5, UniqueOpts: uniqueByProject}
}

// RollbackArgs is the job that undoes a succeeded restore: it puts back the
// kept database or tables recorded in the ticket's result.
type RollbackArgs struct {
	TicketID   int64  `json:"ticket_id"`
	ProjectRef string `json:"project_ref" river:"unique"`
}

// Kind is the River job kind.
func (RollbackArgs) Kind() string { return "restore_rollback" }

// InsertOpts shares the restore queue and its per-project uniqueness.
func (RollbackArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueRestore, MaxAttempts: 5, UniqueOpts: uniqueByProject}
}

func insertJob(ctx context.Context, jobs JobInserter, tx pgx.Tx, args river.JobArgs) (int64, error) {
	res, err := jobs.InsertTx(ctx, tx, args, nil)
	if err != nil {
		return 0, err
	}
	if res.UniqueSkippedAsDuplicate {
		return 0, ErrRestoreInProgress
	}
	return res.Job.ID, nil
}
