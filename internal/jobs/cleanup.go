package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
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

// CleanupWorker drops kept copies. It never drops the database a project
// currently lives in.
type CleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	d Deps
}

// Work drops the kept copy if it is still there.
func (w *CleanupWorker) Work(ctx context.Context, job *river.Job[CleanupArgs]) error {
	a := job.Args
	cl, err := clusterOf(ctx, w.d, a.ProjectRef)
	if err != nil {
		return err
	}
	if a.Schema != "" {
		exists, err := cl.Exists(ctx, a.Database)
		if err != nil || !exists {
			return err
		}
		conn, err := cl.Connect(ctx, a.Database)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		if err := cluster.DropSchema(ctx, conn, a.Schema); err != nil {
			return fmt.Errorf("drop %s: %w", a.what(), err)
		}
		w.d.Log.Info("kept tables dropped after their retention", "ticket_id", a.TicketID, "what", a.what())
		return nil
	}
	p, err := snapshots.ProjectGet(ctx, w.d.Pool, a.ProjectRef)
	if err != nil && !errors.Is(err, snapshots.ErrNotFound) {
		return err
	}
	if a.Database == p.DatabaseName {
		return river.JobCancel(fmt.Errorf("refusing to drop %s: it is project %s's live database", a.Database, a.ProjectRef))
	}
	if err := cl.Drop(ctx, a.Database); err != nil {
		return err
	}
	w.d.Log.Info("kept database dropped after its retention", "ticket_id", a.TicketID, "database", a.Database)
	return nil
}

// Timeout bounds a drop.
func (*CleanupWorker) Timeout(*river.Job[CleanupArgs]) time.Duration { return 10 * time.Minute }
