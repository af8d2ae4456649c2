package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/tickets"
)

// ApprovalLapseArgs is the periodic job that lapses approval requests older
// than PORTAL_APPROVAL_TTL, so a stale request leaves the approvers' list even
// when nobody opens its ticket (tickets.LapseExpired).
type ApprovalLapseArgs struct{}

// Kind is the River job kind.
func (ApprovalLapseArgs) Kind() string { return "approval_lapse" }

// ApprovalLapseWorker runs tickets.LapseExpired.
type ApprovalLapseWorker struct {
	river.WorkerDefaults[ApprovalLapseArgs]
	d Deps
}

// Work lapses what is due.
func (w *ApprovalLapseWorker) Work(ctx context.Context, _ *river.Job[ApprovalLapseArgs]) error {
	n, err := tickets.LapseExpired(ctx, w.d.Pool, w.d.Config.ApprovalTTL)
	if n > 0 {
		w.d.Log.Info("approval requests lapsed", "count", n, "ttl", w.d.Config.ApprovalTTL)
	}
	return err
}

func approvalLapsePeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(5*time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return ApprovalLapseArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
