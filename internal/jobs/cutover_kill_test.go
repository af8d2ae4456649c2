package jobs_test

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/tickets"
)

// workerBinary builds cmd/worker and returns a function starting it with the
// harness's environment plus extra (and more), at debug level, logging into
// one file shown on failure.
func (h *harness) workerBinary(extra ...string) func(more ...string) *exec.Cmd {
	h.t.Helper()
	return h.workerCommand(h.cfg.S3.Endpoint, append([]string{"PORTAL_LOG_LEVEL=debug"}, extra...)...)
}

// connectsWithin tries one connection to db, giving up after d.
func (h *harness) connectsWithin(db string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	conn, err := pgx.Connect(ctx, h.cl.URL(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, `SELECT 1`).Scan(&one)
}

// TestWorkerKilledInsideTheCutoverLeavesLiveReachable runs the real worker
// binary, pauses it inside a full destructive restore's cut-over (renames
// done, not committed, connections to live held off), checks the block is
// real and recorded, kills the worker with SIGKILL, and then, with no worker
// running, checks live accepts connections again within 10 s and is the old
// database. A new worker then settles the open record and finishes the job.
func TestWorkerKilledInsideTheCutoverLeavesLiveReachable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	snap, atSnapshot := h.snapshotDumpThenChange()
	before := h.checksum(h.db)
	start := h.workerBinary()
	ctx := context.Background()

	tk := h.ticket(snap, full, tickets.ModeDestructive, tickets.Options{})
	first := start("PORTAL_TEST_PAUSE_AT_STEP=blocked")
	deadline := time.Now().Add(3 * time.Minute)
	var rec tickets.Cutover
	for {
		var err error
		rec, err = tickets.CutoverGet(ctx, h.pool, tk.ID, tickets.CutoverRestore)
		if err != nil && !errors.Is(err, tickets.ErrNoCutover) {
			t.Fatal(err)
		}
		if err == nil && rec.State == tickets.CutoverBlocking {
			if blocked, err := h.cl.Blocked(ctx, h.db); err != nil {
				t.Fatal(err)
			} else if blocked {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not reach the cut-over's block: record %+v", rec)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec.LiveDatabase != h.db || rec.BackendPID == 0 {
		t.Fatalf("the block's record does not name live and its session: %+v", rec)
	}
	// The block holds new sessions off: one does not get in within a second.
	if err := h.connectsWithin(h.db, time.Second); err == nil {
		t.Fatal("a new session got into live while the cut-over held it")
	}

	kill9(t, first)
	killed := time.Now()
	for {
		err := h.connectsWithin(h.db, time.Second)
		if err == nil {
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("live still unreachable 10s after the worker died, with no worker running: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("live accepted connections %s after the kill", time.Since(killed).Round(time.Millisecond))
	h.wantLive(before, "live is not the database it was before the interrupted cut-over")
	if rec, err := tickets.CutoverGet(ctx, h.pool, tk.ID, tickets.CutoverRestore); err != nil || !rec.Open() {
		t.Fatalf("with no worker running the record should still be open: %+v %v", rec, err)
	}

	start()
	done := h.waitEnded(tk.ID, 4*time.Minute)
	wantState(t, done, tickets.StateSucceeded, "restore after the interrupted cut-over")
	h.wantLiveDump(atSnapshot, "now")
	if h.checksum(done.Result.KeptDatabase) != before {
		t.Fatal("the kept database is not the replaced live one")
	}
	rec, err := tickets.CutoverGet(ctx, h.pool, tk.ID, tickets.CutoverRestore)
	if err != nil || rec.State != tickets.CutoverCommitted || rec.XID == nil {
		t.Fatalf("cut-over record after the finished restore: %+v %v", rec, err)
	}
	var attempt int
	if err := h.pool.QueryRow(ctx, `SELECT attempt FROM river_job WHERE id = $1`, tk.JobID).Scan(&attempt); err != nil || attempt < 2 {
		t.Fatalf("job attempt %d (%v): want a second attempt", attempt, err)
	}
}
