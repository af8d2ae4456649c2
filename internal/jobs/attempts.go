package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/tickets"
)

// A restore whose worker dies is handed to another worker by the watchdog
// (RescueDeadRestores), which counts the rescues in the job's metadata. After
// PORTAL_RESTORE_MAX_ATTEMPTS of them the next attempt does no work: it fails
// the ticket with the reason and what the ticket's records say is left on
// the cluster (a retry of the ticket drops its own staging copies).

// rescueMetadataKey is the job metadata key of the watchdog's rescue count.
const rescueMetadataKey = "portal:rescue_count"

// rescueCount reads the watchdog's rescue count from a job's metadata.
func rescueCount(metadata []byte) int {
	var m map[string]any
	if err := json.Unmarshal(metadata, &m); err != nil {
		return 0
	}
	switch v := m[rescueMetadataKey].(type) {
	case float64:
		return int(v)
	case string:
		var n int
		_, _ = fmt.Sscan(v, &n)
		return n
	}
	return 0
}

func (w *RestoreWorker) maxAttempts() int { return cmp.Or(w.d.Config.Worker.RestoreMaxAttempts, 3) }

// mayGiveUp is false once the ticket recorded a cut-over: the live database
// may have been replaced already, and the attempt must finish it instead.
func (w *RestoreWorker) mayGiveUp(ctx context.Context, t tickets.Ticket) (bool, error) {
	recs, err := tickets.DatabaseRecordsByTicket(ctx, w.d.Pool, t.ID)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.Purpose == tickets.PurposeKept && r.State != tickets.RecordDropped {
			return false, nil
		}
	}
	return true, nil
}

// giveUp fails the ticket of a restore whose workers died rescues times.
func (w *RestoreWorker) giveUp(ctx context.Context, t tickets.Ticket, rescues int, log *slog.Logger) error {
	phase := "unknown"
	if t.Progress != nil && t.Progress.Phase != "" {
		phase = t.Progress.Phase
	}
	err := fmt.Errorf("the worker running this restore stopped %d times (PORTAL_RESTORE_MAX_ATTEMPTS is %d), the last time in phase %q; the restore was given up and the live database was not changed. %s",
		rescues, w.maxAttempts(), phase, runbook.LeftOnCluster(ctx, w.d.runbook(), t.ID))
	log.Error("restore given up", "rescues", rescues, "phase", phase)
	metricRestores.WithLabelValues(restoreKind(t), "failed").Inc()
	if _, ferr := tickets.Finish(context.WithoutCancel(ctx), w.d.Pool, t.ID, tickets.Result{OK: false, Message: err.Error()}); ferr != nil {
		return fmt.Errorf("%w (and recording it on the ticket failed: %v)", err, ferr)
	}
	notifyRequester(ctx, w.d, t, noticeFailed)
	return river.JobCancel(errFailed{err})
}
