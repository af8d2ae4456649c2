package jobs_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/drills"
)

// TestDrillOfAKilledWorkerIsRescued (fault): the real worker binary is
// killed with SIGKILL in the middle of a drill (scratch database made and
// restored, before the checks). The drill job has no timeout, so River's own
// rescuer would never take it back; the drill rescue sees its drill lock free
// and hands it to the next worker within PORTAL_RESCUE_AFTER (2 s here, not
// River's hour). The next attempt drops the killed attempt's scratch
// database, settles its record, and passes. While the worker lives, the
// rescue leaves the drill alone.
func TestDrillOfAKilledWorkerIsRescued(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	h.capture()
	ctx := context.Background()
	paused := t.TempDir()
	start := h.workerBinary("PORTAL_TEST_PAUSED_DIR=" + paused)
	jobID, err := drills.DrillNow(ctx, h.insertOnly(), h.ref)
	if err != nil {
		t.Fatal(err)
	}
	first := start("PORTAL_TEST_PAUSE_DRILL_AT_STEP=applied")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if ents, _ := os.ReadDir(paused); len(ents) > 0 && strings.HasSuffix(ents[0].Name(), "-applied") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never paused the drill after its restore")
		}
		time.Sleep(50 * time.Millisecond)
	}
	list, err := drills.DrillListByProject(ctx, h.pool, h.ref, 1)
	if err != nil || len(list) != 1 || list[0].JobID != jobID || list[0].ScratchState != drills.ScratchMade || list[0].Outcome != "running" {
		t.Fatalf("the paused drill: %+v %v", list, err)
	}
	dead := list[0]
	if !h.databaseExists(dead.ScratchDatabase) {
		t.Fatalf("the paused drill's scratch database %s does not exist", dead.ScratchDatabase)
	}
	// While its worker lives (paused, lock held) the rescue leaves it alone:
	// two more rescue runs after the attempt is older than PORTAL_RESCUE_AFTER.
	rescues := func() (n int) {
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'restore_drill_rescue' AND state = 'completed'
			AND finalized_at > (SELECT attempted_at FROM river_job WHERE id = $1) + interval '2 seconds'`, jobID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(time.Minute); rescues() < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the drill rescue does not run")
		}
	}
	var liveState string
	var liveAttempt int
	if err := h.pool.QueryRow(ctx, `SELECT state, attempt FROM river_job WHERE id = $1`, jobID).Scan(&liveState, &liveAttempt); err != nil ||
		liveState != "running" || liveAttempt != 1 {
		t.Fatalf("the live drill's job was touched: %s attempt %d %v", liveState, liveAttempt, err)
	}
	kill9(t, first)
	killed := time.Now()

	start() // no pause this time
	done := h.waitDrill(func(d drills.Drill) bool {
		return d.JobID == jobID && d.ID != dead.ID && (d.Outcome == drills.OutcomePassed || d.Outcome == drills.OutcomeFailed)
	})
	if done.Outcome != drills.OutcomePassed {
		t.Fatalf("the rescued drill: %s %q", done.Outcome, done.Reason)
	}
	if took := time.Since(killed); took > 2*time.Minute {
		t.Fatalf("the drill was rescued %s after the kill", took)
	}
	h.waitJobFinalized(jobID)
	var state string
	var attempt int
	var errs []string
	if err := h.pool.QueryRow(ctx, `SELECT state, attempt, coalesce(array(SELECT e->>'error' FROM unnest(errors) e), '{}') FROM river_job WHERE id = $1`, jobID).
		Scan(&state, &attempt, &errs); err != nil {
		t.Fatal(err)
	}
	if state != "completed" || attempt != 2 || len(errs) != 1 || !strings.Contains(errs[0], "drill lock was released") {
		t.Fatalf("the drill's job: %s attempt %d errors %q", state, attempt, errs)
	}
	if h.databaseExists(dead.ScratchDatabase) {
		t.Fatalf("the killed attempt's scratch database %s is still there", dead.ScratchDatabase)
	}
	old, err := drills.DrillGet(ctx, h.pool, dead.ID)
	if err != nil || old.Outcome != drills.OutcomeFailed || old.ScratchState != drills.ScratchDropped || !strings.Contains(old.Reason, "worker stopped") {
		t.Fatalf("the killed drill's record: %+v %v", old, err)
	}
}
