package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/tickets"
)

// Transient Postgres faults. A restart of the project cluster or of the
// portal's database during a restore ends the attempt with a connection
// error. Such an attempt is snoozed, not failed: River runs the same job
// again (same approval; a snooze is not counted as an attempt, and neither is
// it one of the watchdog's rescues), and the next attempt resumes from the
// ticket's record: staging is recreated, the recorded safety snapshot
// reused, a recorded cut-over finished. A fault that lasts PORTAL_PG_RETRY_FOR
// fails the ticket with the last error. The window of one outage starts at
// the fault of an attempt that had made progress (reached a phase), and is
// kept by attempts that fail before reaching one.

// Job metadata keys of the current outage.
const (
	faultSinceKey   = "portal:pg_fault_since"
	faultErrorKey   = "portal:pg_fault_error"
	faultRetriesKey = "portal:pg_fault_retries"
)

// maxFaultRetries bounds the retries of one job across outages, so a cluster
// that restarts over and over does not retry a restore forever.
const maxFaultRetries = 100

// faultState is the current outage as the job's metadata records it.
type faultState struct {
	Since   time.Time
	Error   string
	Retries int
}

func readFault(metadata []byte) faultState {
	var m map[string]json.RawMessage
	if json.Unmarshal(metadata, &m) != nil {
		return faultState{}
	}
	var f faultState
	var since string
	_ = json.Unmarshal(m[faultSinceKey], &since)
	f.Since, _ = time.Parse(time.RFC3339Nano, since)
	_ = json.Unmarshal(m[faultErrorKey], &f.Error)
	_ = json.Unmarshal(m[faultRetriesKey], &f.Retries)
	return f
}

// faultBackoff is the snooze before retry n (0-based): 500ms doubling to 15s.
func faultBackoff(n int) time.Duration {
	d := 500 * time.Millisecond
	for i := 0; i < n && d < 15*time.Second; i++ {
		d *= 2
	}
	return min(d, 15*time.Second)
}

// retryFault decides what to do with an attempt that ended in a Postgres
// fault: the snooze to return (retry), or, when the outage lasted
// PORTAL_PG_RETRY_FOR or the job retried too often, the error the ticket
// fails with. fresh says the attempt made progress, so this fault starts a
// new outage.
func (w *RestoreWorker) retryFault(ctx context.Context, job *river.Job[tickets.RestoreArgs], err error, fresh bool) (snooze error, giveUp error) {
	f := readFault(job.Metadata)
	now := time.Now()
	if fresh || f.Since.IsZero() {
		f.Since = now
	}
	window := w.retryFor()
	if now.Sub(f.Since) >= window || f.Retries >= maxFaultRetries {
		return nil, fmt.Errorf("Postgres was unavailable for %s (PORTAL_PG_RETRY_FOR is %s; %d retries): the restore was given up and the live database was not changed. Last error: %w",
			now.Sub(f.Since).Round(100*time.Millisecond), window, f.Retries, err)
	}
	d := min(faultBackoff(f.Retries), max(f.Since.Add(window).Sub(now), 100*time.Millisecond))
	_ = river.MetadataSet(ctx, faultSinceKey, f.Since.UTC().Format(time.RFC3339Nano))
	_ = river.MetadataSet(ctx, faultErrorKey, truncate(err.Error(), 2000))
	_ = river.MetadataSet(ctx, faultRetriesKey, f.Retries+1)
	return river.JobSnooze(d), nil
}

func (w *RestoreWorker) retryFor() time.Duration {
	if d := w.d.Config.Worker.PGRetryFor; d > 0 {
		return d
	}
	return 10 * time.Minute
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
