package snapshots

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// QueueCapture is the River queue of captures (pg_dump to S3), the other
// long jobs (internal/jobs runs it with PORTAL_CAPTURE_CONCURRENCY workers).
const QueueCapture = "capture"

// JobInserter inserts a River job on its own; the portal's insert-only
// *river.Client[pgx.Tx] satisfies it.
type JobInserter interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// InsertSyncNow enqueues a full sync of one project ("Sync now").
func InsertSyncNow(ctx context.Context, ins JobInserter, ref string) error {
	_, err := ins.Insert(ctx, SyncArgs{Ref: ref, Full: true}, nil)
	return err
}

// InsertCaptureNow enqueues a manual capture of one project ("Snapshot now").
func InsertCaptureNow(ctx context.Context, ins JobInserter, ref string) error {
	_, err := ins.Insert(ctx, CaptureArgs{Ref: ref, Manual: true}, &river.InsertOpts{Queue: QueueCapture})
	return err
}
