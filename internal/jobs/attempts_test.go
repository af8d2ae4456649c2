package jobs_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// workerProcesses builds the real worker binary and returns a function that
// starts one more process of it with env added to the harness's settings.
func (h *harness) workerProcesses(extra ...string) (start func() *exec.Cmd) {
	h.t.Helper()
	bin := filepath.Join(h.t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/worker").CombinedOutput(); err != nil {
		h.t.Fatalf("build worker: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"PORTAL_DATABASE_URL="+h.portalURL,
		"PORTAL_PROJECTS_ADMIN_URL="+h.cfg.ProjectsAdminURL,
		"PORTAL_S3_ENDPOINT="+h.slowS3Endpoint(),
		"PORTAL_S3_BUCKET="+h.cfg.S3.Bucket,
		"PORTAL_S3_PREFIX="+h.cfg.S3.Prefix,
		"PORTAL_S3_ACCESS_KEY="+h.cfg.S3.AccessKey,
		"PORTAL_S3_SECRET_KEY="+h.cfg.S3.SecretKey,
		"PORTAL_PG_DUMP="+h.cfg.PGDump,
		"PORTAL_APPLY_JOBS=1",
		"PORTAL_METRICS_ADDR=127.0.0.1:0",
		"PORTAL_RESCUE_AFTER=2s",
		"PORTAL_CAPTURE_SCHEDULE=",
	)
	env = append(env, extra...)
	logs := filepath.Join(h.t.TempDir(), "worker.log")
	h.t.Cleanup(func() {
		if h.t.Failed() {
			b, _ := os.ReadFile(logs)
			h.t.Logf("worker logs:\n%s", b)
		}
	})
	return func() *exec.Cmd {
		f, err := os.OpenFile(logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			h.t.Fatal(err)
		}
		cmd := exec.Command(bin, "run")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
		if err := cmd.Start(); err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait(); f.Close() })
		return cmd
	}
}

// TestCrashLoopEndsFailedWithOneSafetySnapshot kills the worker binary in
// the data phase of every attempt of a destructive restore. With
// PORTAL_RESTORE_MAX_ATTEMPTS=2, after the second death the next worker
// fails the ticket, naming the deaths and what the ticket left on the
// cluster; every attempt reused the one safety snapshot, and the live
// database is unchanged.
func TestCrashLoopEndsFailedWithOneSafetySnapshot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.exec(bigTable)
	snap := h.capture()
	h.change(2)
	before := h.checksum(h.db)
	start := h.workerProcesses("PORTAL_RESTORE_MAX_ATTEMPTS=2")
	ctx := context.Background()

	tk := h.ticket(snap, full, tickets.ModeDestructive, tickets.Options{})
	for attempt := 1; attempt <= 2; attempt++ {
		w := start()
		h.wait(tk.ID, 3*time.Minute, func(tk tickets.Ticket) bool {
			var n int
			var at time.Time
			if err := h.pool.QueryRow(ctx, `SELECT attempt, coalesce(attempted_at, now()) FROM river_job WHERE id = $1`, tk.JobID).Scan(&n, &at); err != nil {
				t.Fatal(err)
			}
			return n == attempt && inDataPhase(tk) && tk.Progress.UpdatedAt.After(at)
		})
		if err := w.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_, _ = w.Process.Wait()
		if h.checksum(h.db) != before {
			t.Fatalf("attempt %d: the live database changed", attempt)
		}
	}
	start()
	done := h.wait(tk.ID, 3*time.Minute, func(tk tickets.Ticket) bool { return tk.State != tickets.StateRunning })
	h.waitJobFinalized(tk.JobID)
	staging := cluster.StagingName(h.db, tk.ID)
	if done.State != tickets.StateFailed || !strings.Contains(done.Result.Message, "stopped 2 times") ||
		!strings.Contains(done.Result.Message, "Left on the cluster by this ticket: database "+staging+" (staging, made)") {
		t.Fatalf("crash loop: %s %+v", done.State, done.Result)
	}
	if n := h.safetySnapshots(); n != 1 {
		t.Fatalf("%d safety snapshots for one ticket, want 1", n)
	}
	if h.checksum(h.db) != before {
		t.Fatal("the live database changed")
	}
	var state string
	if err := h.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, tk.JobID).Scan(&state); err != nil || state != "cancelled" {
		t.Fatalf("job state %q (%v), want cancelled", state, err)
	}
}
