package jobs_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// bigTable gives a restore a data phase worth interrupting: about 15 MB of
// rows that gzip cannot shrink much, read through a proxy that limits the
// download to slowS3 bytes a second (a slow link), so the data phase lasts
// several seconds without making captures slow.
const bigTable = `CREATE TABLE public.audit_log AS
	SELECT g AS id, md5(g::text) AS digest, md5((g * 7)::text) AS body
	FROM generate_series(1, 200000) g`

const slowS3 = 1 << 20

// slowS3Endpoint is the stack's S3 endpoint behind a download-limiting proxy.
// slowDeps is the harness's Deps reading S3 through a slow proxy
// (slowS3Endpoint), so that a test can act while a restore is in its data
// phase.
func (h *harness) slowDeps() jobs.Deps {
	h.t.Helper()
	slow := h.cfg.S3
	slow.Endpoint = h.slowS3Endpoint()
	s3c, err := objstore.New(context.Background(), slow)
	if err != nil {
		h.t.Fatal(err)
	}
	deps := h.deps
	deps.S3 = s3c
	return deps
}

func (h *harness) slowS3Endpoint() string {
	h.t.Helper()
	return "http://" + testenv.Proxy(h.t, strings.TrimPrefix(h.cfg.S3.Endpoint, "http://"), testenv.ProxyOptions{BytesPerSecond: slowS3})
}

func inDataPhase(tk tickets.Ticket) bool {
	return tk.State == tickets.StateRunning && tk.Progress != nil && tk.Progress.Phase == "apply: data"
}

// TestWorkerKilledMidRestoreLeavesLiveUntouchedAndRetrySucceeds starts the
// worker binary, kills it with SIGKILL during the data phase of a destructive
// restore, checks the live database, then starts another worker, which
// takes the job over (River rescues it), drops the stale staging database,
// and finishes.
func TestWorkerKilledMidRestoreLeavesLiveUntouchedAndRetrySucceeds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.exec(bigTable)
	snap, atSnapshot := h.snapshotDumpThenChange()
	before := h.checksum(h.db)

	start := h.workerCommand(h.slowS3Endpoint(), "PORTAL_LOG_LEVEL=debug")

	tk := h.ticket(snap, full, tickets.ModeDestructive, tickets.Options{})
	first := start()
	h.wait(tk.ID, 3*time.Minute, inDataPhase)
	kill9(t, first)

	h.wantLive(before, "the live database changed although the worker died before the cut-over")
	staging := fmt.Sprintf("%s_stg_t%d", h.db, tk.ID)
	if !h.databaseExists(staging) {
		t.Fatal("no stale staging database: the kill did not land in the data phase")
	}

	start()
	done := h.waitEnded(tk.ID, 4*time.Minute)
	wantState(t, done, tickets.StateSucceeded, "retried restore")
	h.wantLiveDump(atSnapshot, "after the retried restore")
	if h.databaseExists(staging) {
		t.Fatal("staging database left behind")
	}
	var attempt int
	if err := h.pool.QueryRow(context.Background(), `SELECT attempt FROM river_job WHERE id = $1`, tk.JobID).Scan(&attempt); err != nil || attempt < 2 {
		t.Fatalf("job attempt %d (%v): want a second attempt", attempt, err)
	}
}

// TestCancelDuringDataPhaseRemovesStaging cancels a running destructive
// restore from the ticket: the worker stops, drops its staging database, and
// the live database is unchanged.
func TestCancelDuringDataPhaseRemovesStaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.exec(bigTable)
	h.startRiverWith(h.slowDeps())
	snap, before := h.snapshotThenChange()

	tk := h.restoreInDataPhase(snap, tickets.ModeDestructive)
	if _, err := tickets.Cancel(context.Background(), h.pool, h.operator, tk.ID, "customer found the rows"); err != nil {
		t.Fatalf("cancel a running restore: %v", err)
	}
	h.waitCancelled(tk, before, "the cancel")
}

// TestRestoreSurvivesS3ConnectionCuts runs a restore whose S3 connection is
// cut twice mid-stream by a proxy: the reader resumes with ranged GETs and
// the restore completes with the exact data.
func TestRestoreSurvivesS3ConnectionCuts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.exec(bigTable)
	snap := h.capture()
	atSnapshot := h.dump(h.db)

	cut := h.cfg.S3
	// Eight armed connections: the worker's cheap check (a small ranged GET),
	// the extension pre-scan (it reads only the pre-data, less than a third of
	// this dump), the access index and the start of the dump take the first
	// ones and end before their cut point; the big table's data, read apart
	// through the index (a full restore in parts), is then cut at least twice.
	cut.Endpoint = "http://" + testenv.CutProxy(t, strings.TrimPrefix(h.cfg.S3.Endpoint, "http://"), snap.Size/3, 8)
	s3c, err := objstore.New(context.Background(), cut)
	if err != nil {
		t.Fatal(err)
	}
	deps := h.deps
	deps.S3 = s3c
	deps.Log = testenv.Logger(t)
	h.startRiverWith(deps)

	tk := h.restore(snap, full, tickets.ModeNewProject, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore through a cutting proxy")
	if got := h.dump(tk.Result.TargetDatabase); got != atSnapshot {
		t.Fatalf("restored data differs:\n%s", testenv.DiffLines(atSnapshot, got))
	}
	// The worker's own metrics count the resumes (other tests in this
	// process only add to the counter, never subtract).
	rec := httptest.NewRecorder()
	jobs.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := regexp.MustCompile(`(?m)^portal_restore_s3_resumes_total (\d+)`).FindStringSubmatch(rec.Body.String())
	if m == nil || m[1] == "0" || m[1] == "1" {
		t.Fatalf("want at least 2 resumed S3 reads in /metrics, got %v", m)
	}
}

// TestInterruptedCutoverIsUndoneOnRetry recreates what a worker that died
// inside the cut-over leaves behind (a stale staging database and the live
// database still closed to connections) and checks the next attempt lifts
// the block, redoes the work and finishes the cut-over.
func TestInterruptedCutoverIsUndoneOnRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	snap, atSnapshot := h.snapshotDumpThenChange()
	tk := h.ticket(snap, full, tickets.ModeDestructive, tickets.Options{})
	staging := fmt.Sprintf("%s_stg_t%d", h.db, tk.ID)
	ctx := context.Background()
	// The dead attempt recorded its staging database before creating it (a
	// database not recorded for the ticket would be left alone).
	if _, _, err := tickets.DatabaseRecordClaim(ctx, h.pool, tk.ID, staging, "", tickets.PurposeStaging); err != nil {
		t.Fatal(err)
	}
	if err := h.cl.Create(ctx, staging); err != nil {
		t.Fatal(err)
	}
	h.adminExec(`ALTER DATABASE ` + h.db + ` ALLOW_CONNECTIONS false`)
	h.adminExec(`ALTER DATABASE ` + staging + ` ALLOW_CONNECTIONS false`)

	h.startRiver()
	done := h.waitFinal(tk.ID)
	wantState(t, done, tickets.StateSucceeded, "restore after an interrupted cut-over")
	h.wantLiveDump(atSnapshot, "now")
}
