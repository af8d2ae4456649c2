package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// runningJobs makes jobs that River reads as running, for the rescues.
type runningJobs struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	rc   *river.Client[pgx.Tx]
}

func newRunningJobs(t *testing.T) runningJobs {
	pool := testenv.PortalPool(t)
	return runningJobs{t: t, ctx: context.Background(), pool: pool, rc: testenv.InsertOnlyRiver(t, pool)}
}

// insert inserts args as a job and marks it running in attempt, attempted
// attemptedAgo.
func (r runningJobs) insert(args river.JobArgs, attempt int, attemptedAgo time.Duration) int64 {
	r.t.Helper()
	res, err := r.rc.Insert(r.ctx, args, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.pool.Exec(r.ctx, `UPDATE river_job SET state = 'running', attempt = $2,
		attempted_at = now() - $3::interval WHERE id = $1`, res.Job.ID, attempt, attemptedAgo.String()); err != nil {
		r.t.Fatal(err)
	}
	return res.Job.ID
}

// ageEnd makes job's recorded attempt end two hours old (River never
// recorded the end: its process died right after the unlock).
func (r runningJobs) ageEnd(job int64) {
	r.t.Helper()
	if _, err := r.pool.Exec(r.ctx, `UPDATE job_attempt_ends SET ended_at = now() - interval '2 hours' WHERE job_id = $1`, job); err != nil {
		r.t.Fatal(err)
	}
}

// TestRescueDeadRestores drives the one function that writes river_job
// (River 0.51's client cannot hand a running job back: JobRetry and JobCancel
// leave it running, and its rescuer skips jobs without a timeout): a running
// restore and rollback whose project locks are free go back to available
// with the rescue counted and a note in their errors; a restore whose lock a
// live worker holds, one attempted just now, and a running job of another
// kind are left alone; a second pass finds nothing more.
func TestRescueDeadRestores(t *testing.T) {
	t.Parallel()
	r := newRunningJobs(t)
	ctx, pool := r.ctx, r.pool
	dead := r.insert(tickets.RestoreArgs{TicketID: 1, ProjectRef: "proj-dead"}, 1, time.Hour)
	deadRollback := r.insert(tickets.RollbackArgs{TicketID: 2, ProjectRef: "proj-dead-rb"}, 1, time.Hour)
	alive := r.insert(tickets.RestoreArgs{TicketID: 3, ProjectRef: "proj-alive"}, 1, time.Hour)
	young := r.insert(tickets.RestoreArgs{TicketID: 4, ProjectRef: "proj-young"}, 1, 0)
	other := r.insert(snapshots.SyncArgs{Ref: "proj-dead"}, 1, time.Hour)

	// A live worker holds proj-alive's lock on a session of its own.
	holder, ok, err := lockProject(ctx, pool, "proj-alive", testenv.Logger(t))
	if err != nil || !ok {
		t.Fatalf("take proj-alive's lock: %v %v", ok, err)
	}
	defer holder.unlock()

	n, err := RescueDeadRestores(ctx, pool, time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("RescueDeadRestores = %d, %v; want 2 rescued", n, err)
	}
	type row struct {
		state   string
		rescues string
		errors  int
	}
	get := func(id int64) row {
		t.Helper()
		var r row
		if err := pool.QueryRow(ctx, `SELECT state, coalesce(metadata->>'portal:rescue_count', ''), coalesce(array_length(errors, 1), 0)
			FROM river_job WHERE id = $1`, id).Scan(&r.state, &r.rescues, &r.errors); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for id, want := range map[int64]row{
		dead:         {"available", "1", 1},
		deadRollback: {"available", "1", 1},
		alive:        {"running", "", 0},
		young:        {"running", "", 0},
		other:        {"running", "", 0},
	} {
		if got := get(id); got != want {
			t.Errorf("job %d = %+v, want %+v", id, got, want)
		}
	}
	// The watchdog released the free locks it tried: a worker can take them.
	if l, ok, err := lockProject(ctx, pool, "proj-dead", testenv.Logger(t)); err != nil || !ok {
		t.Errorf("proj-dead's lock after the rescue: %v %v", ok, err)
	} else {
		l.unlock()
	}
	if n, err := RescueDeadRestores(ctx, pool, time.Minute); err != nil || n != 0 {
		t.Errorf("second pass = %d, %v; want nothing more", n, err)
	}
}

// TestRescueDeadDrills drives the drill rescue's write to river_job (for the
// watchdog's reason: River cannot hand a running job back): a running drill
// whose drill lock is free goes back to available with a note in its errors;
// one on its last attempt is discarded and finalized; a drill whose lock a
// live worker holds, one attempted just now, and a running restore (whose
// lock is another) are left alone; a second pass finds nothing more.
func TestRescueDeadDrills(t *testing.T) {
	t.Parallel()
	r := newRunningJobs(t)
	ctx, pool, insert := r.ctx, r.pool, r.insert
	dead := insert(drills.DrillArgs{ProjectRef: "proj-dead"}, 1, time.Hour)
	spent := insert(drills.DrillArgs{ProjectRef: "proj-spent"}, 0, time.Hour)
	if _, err := pool.Exec(ctx, `UPDATE river_job SET attempt = max_attempts WHERE id = $1`, spent); err != nil {
		t.Fatal(err)
	}
	alive := insert(drills.DrillArgs{ProjectRef: "proj-alive"}, 1, time.Hour)
	young := insert(drills.DrillArgs{ProjectRef: "proj-young"}, 1, 0)
	restore := insert(tickets.RestoreArgs{TicketID: 1, ProjectRef: "proj-dead"}, 1, time.Hour)

	// A live drill holds proj-alive's drill lock on a session of its own.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	var ok bool
	if err := holder.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, drillLockKey("proj-alive")).Scan(&ok); err != nil || !ok {
		t.Fatalf("take proj-alive's drill lock: %v %v", ok, err)
	}
	defer holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, drillLockKey("proj-alive")) //nolint:errcheck

	n, err := RescueDeadDrills(ctx, pool, time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("RescueDeadDrills = %d, %v; want 2 rescued", n, err)
	}
	type row struct {
		state     string
		finalized bool
		errors    int
	}
	for id, want := range map[int64]row{
		dead:    {"available", false, 1},
		spent:   {"discarded", true, 1},
		alive:   {"running", false, 0},
		young:   {"running", false, 0},
		restore: {"running", false, 0},
	} {
		var got row
		if err := pool.QueryRow(ctx, `SELECT state, finalized_at IS NOT NULL, coalesce(array_length(errors, 1), 0)
			FROM river_job WHERE id = $1`, id).Scan(&got.state, &got.finalized, &got.errors); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("job %d = %+v, want %+v", id, got, want)
		}
	}
	// The rescue released the free lock it tried: the next drill can take it.
	probe, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Release()
	if free, err := lockFree(ctx, probe, drillLockKey("proj-dead")); err != nil || !free {
		t.Errorf("proj-dead's drill lock after the rescue: %v %v", free, err)
	}
	if free, err := lockFree(ctx, probe, drillLockKey("proj-alive")); err != nil || free {
		t.Errorf("proj-alive's held drill lock reads free: %v %v", free, err)
	}
	if n, err := RescueDeadDrills(ctx, pool, time.Minute); err != nil || n != 0 {
		t.Errorf("second pass = %d, %v; want nothing more", n, err)
	}
}

// TestRescueSkipsAnAttemptThatEnded freezes the moment between a worker's
// unlock and River's completion: the attempt's unlock recorded its end, its
// lock is free, and River still reads the job running. The watchdog leaves
// it alone and counts nothing. A job whose earlier attempt ended but whose
// current one did not is a dead worker's, rescued and counted; an ended
// attempt that River still reads running long after is handed back
// uncounted.
func TestRescueSkipsAnAttemptThatEnded(t *testing.T) {
	t.Parallel()
	r := newRunningJobs(t)
	ctx, pool := r.ctx, r.pool
	insert := func(ref string, attempt int) int64 {
		t.Helper()
		return r.insert(tickets.RestoreArgs{TicketID: 1, ProjectRef: ref}, attempt, time.Hour)
	}
	// endAttempt takes ref's lock as the worker of job's attempt does and
	// releases it: what a worker's deferred unlock does when Work returns.
	endAttempt := func(ref string, job int64, attempt int) {
		t.Helper()
		l, ok, err := lockProject(ctx, pool, ref, testenv.Logger(t))
		if err != nil || !ok {
			t.Fatalf("lock %s: %v %v", ref, ok, err)
		}
		l.endJob, l.endAttempt = job, attempt
		l.unlock()
	}
	state := func(id int64) (string, string) {
		t.Helper()
		var st, n string
		if err := pool.QueryRow(ctx, `SELECT state, coalesce(metadata->>'portal:rescue_count', '') FROM river_job WHERE id = $1`, id).Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		return st, n
	}
	ended := insert("proj-ended", 1)
	endAttempt("proj-ended", ended, 1)
	earlier := insert("proj-earlier", 2)
	endAttempt("proj-earlier", earlier, 1) // attempt 1 ended; attempt 2's worker died

	n, err := RescueDeadRestores(ctx, pool, time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("RescueDeadRestores = %d, %v; want 1 (the dead attempt 2)", n, err)
	}
	if st, c := state(ended); st != "running" || c != "" {
		t.Errorf("the attempt that ended: %s, rescue count %q; want running, uncounted", st, c)
	}
	if st, c := state(earlier); st != "available" || c != "1" {
		t.Errorf("the dead attempt after an ended one: %s, rescue count %q; want available, 1", st, c)
	}

	// River never recorded the end (its process died right after the
	// unlock): once `after` has passed, the job goes back, uncounted.
	r.ageEnd(ended)
	if n, err := RescueDeadRestores(ctx, pool, time.Minute); err != nil || n != 1 {
		t.Fatalf("RescueDeadRestores after the end aged = %d, %v; want 1", n, err)
	}
	if st, c := state(ended); st != "available" || c != "0" {
		t.Errorf("an ended attempt River lost: %s, rescue count %q; want available, 0", st, c)
	}
}

// TestDrillRescueSkipsAnAttemptThatEnded freezes the moment between a drill
// worker's unlock and River's completion (a clean CI run drilled a project
// twice because the rescue read it as a dead worker): the drill lock's
// release records the attempt's end, and the rescue leaves that job alone
// until River has had `after` to record it; then it hands it back.
func TestDrillRescueSkipsAnAttemptThatEnded(t *testing.T) {
	t.Parallel()
	r := newRunningJobs(t)
	ctx, pool := r.ctx, r.pool
	id := r.insert(drills.DrillArgs{ProjectRef: "proj-drill-ended"}, 1, time.Hour)
	w := &DrillWorker{d: Deps{Pool: pool, Log: testenv.Logger(t)}}
	_, release, held, err := w.holdDrillLock(ctx, "proj-drill-ended", id, 1, testenv.Logger(t))
	if err != nil || !held {
		t.Fatalf("hold the drill lock: %v %v", held, err)
	}
	release() // what the worker's deferred release does when Work returns
	state := func() string {
		t.Helper()
		var st string
		if err := pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if n, err := RescueDeadDrills(ctx, pool, time.Minute); err != nil || n != 0 || state() != "running" {
		t.Fatalf("RescueDeadDrills of an ended attempt = %d, %v, state %s; want 0 and left running", n, err, state())
	}
	r.ageEnd(id)
	if n, err := RescueDeadDrills(ctx, pool, time.Minute); err != nil || n != 1 || state() != "available" {
		t.Fatalf("RescueDeadDrills once River lost the end = %d, %v, state %s; want 1 and available", n, err, state())
	}
}
