package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/periodic"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// DrillOptions tune the drill worker; the zero value is production's.
type DrillOptions struct {
	// Hook, when set, is called as a drill reaches StepDrillCreating (its
	// scratch database just made, while the login role and the admin's
	// connection to it are being made), StepPrepared (scratch database
	// ready), StepApplied (restored, before the checks) and StepVerified
	// (checked, before the drop); an error fails the drill.
	Hook func(ctx context.Context, drillID int64, step Step) error
	// RetryAfter is how long a drill that yielded to a restore snoozes
	// (default one minute).
	RetryAfter time.Duration
	// WatchEvery is how often a running drill looks for a restore to yield
	// to (default one second).
	WatchEvery time.Duration
}

// StepDrillCreating is the drill's hook step right after CREATE DATABASE,
// run while the steps that follow it at once (the login role, the admin's
// connection to the copy, the record of the copy as made) are under way.
const StepDrillCreating Step = "drill-creating"

// errYield is the cause of a drill's end when a real restore needs the
// project or the cluster.
var errYield = errors.New("a restore of the project, or on the drill's cluster, started: the drill yields to it")

// DrillWorker restores a project's newest verified snapshot into a scratch
// database recorded for the drill, as the project's owner role with the
// restore engine, checks it (row counts against the inventory, amcheck's
// bt_index_check on every B-tree index where the extension is available,
// foreign keys) and drops it. It never touches the live database. It holds
// no lock a restore waits for: it checks that none runs before it starts and
// watches while it runs, and stops (dropping its copy) the moment one of the
// same project or on its cluster is queued or running, then snoozes.
type DrillWorker struct {
	river.WorkerDefaults[drills.DrillArgs]
	d       Deps
	amcheck sync.Map // clusters known to have amcheck
}

// Timeout lets a drill run as long as a restore would; it watches ctx.
func (*DrillWorker) Timeout(*river.Job[drills.DrillArgs]) time.Duration { return -1 }

func (w *DrillWorker) retryAfter() time.Duration {
	return cmp.Or(w.d.Drill.RetryAfter, time.Minute)
}

// Work runs one drill attempt.
func (w *DrillWorker) Work(ctx context.Context, job *river.Job[drills.DrillArgs]) error {
	a := job.Args
	log := w.d.Log.With("project_ref", a.ProjectRef, "job_id", job.ID, "attempt", job.Attempt)
	ctx, release, held, err := w.holdDrillLock(ctx, a.ProjectRef, job.ID, job.Attempt, log) // liveness for RescueDeadDrills
	if err != nil || !held {
		return cmp.Or(err, river.JobSnooze(w.retryAfter())) // held: another attempt still runs
	}
	defer release()
	p, err := snapshots.ProjectGet(ctx, w.d.Pool, a.ProjectRef)
	if errors.Is(err, snapshots.ErrNotFound) {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	projCl, err := runbook.ClusterOf(ctx, w.d.runbook(), p.Ref)
	if err != nil {
		return err
	}
	cl := projCl
	if name := w.d.Config.Drills.Cluster; name != "" && name != projCl.Name() {
		if cl, err = runbook.ClusterNamed(w.d.runbook(), name); err != nil {
			return river.JobCancel(err)
		}
	}
	if busy, err := restoreActive(ctx, w.d.Pool, p.Ref, cl.Name()); err != nil {
		return err
	} else if busy {
		log.Info("a restore of the project or on the drill's cluster runs; the drill waits")
		return river.JobSnooze(w.retryAfter())
	}
	snap, err := drillSnapshot(ctx, w.d, a)
	if err != nil {
		log.Info("nothing to drill", "err", err)
		return river.JobCancel(err)
	}
	rec, err := drills.DrillStart(ctx, w.d.Pool, drills.NewDrill{ProjectRef: p.Ref, SnapshotID: snap.ID, SnapshotAt: snap.Time(),
		Manual: a.Manual, JobID: job.ID, Cluster: cl.Name()})
	if err != nil {
		return err
	}
	log = log.With("drill_id", rec.ID, "snapshot_id", snap.ID)
	w.dropStale(ctx, p.Ref, rec.ID, job.ID, log)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopWatch := w.watch(ctx, cancel, p.Ref, cl.Name(), log)
	run := &drillRun{d: w.d, log: log, rec: rec, p: p, projCl: projCl, cl: cl, snap: snap, amcheck: &w.amcheck}
	started := time.Now()
	res, err := run.run(ctx)
	res.Duration = time.Since(started) // the whole drill, the drop included
	stopWatch()

	switch {
	case err == nil:
		res.Outcome = drills.OutcomePassed
	case errors.Is(context.Cause(ctx), errYield):
		res.Outcome, res.Reason = drills.OutcomeYielded, errYield.Error()
	case errors.Is(context.Cause(ctx), errDrillLockLost):
		res.Outcome, res.Reason = drills.OutcomeYielded, errDrillLockLost.Error()
	case ctx.Err() != nil:
		res.Outcome, res.Reason = drills.OutcomeYielded, "the worker stopped; the drill is retried"
	default:
		res.Outcome, res.Reason = drills.OutcomeFailed, err.Error()
	}
	done, ferr := drills.DrillFinish(context.WithoutCancel(ctx), w.d.Pool, rec.ID, res)
	if ferr != nil {
		return fmt.Errorf("record drill %d: %w", rec.ID, ferr)
	}
	metricDrills.WithLabelValues(string(res.Outcome)).Inc()
	switch res.Outcome {
	case drills.OutcomeYielded:
		log.Info("drill yielded; retried later", "reason", res.Reason)
		if cause := context.Cause(ctx); ctx.Err() != nil && !errors.Is(cause, errYield) && !errors.Is(cause, errDrillLockLost) {
			return river.JobSnooze(0) // shutting down: the next worker to start takes it, no attempt spent
		}
		// The retry is a new attempt of Work: it takes the drill lock again
		// (holdDrillLock) before anything else, or waits while another holds it.
		return river.JobSnooze(w.retryAfter())
	case drills.OutcomePassed:
		metricDrillSeconds.Observe(res.Recovery.Seconds())
		log.Info("drill passed", "recovery", res.Recovery.Round(time.Millisecond), "duration", res.Duration.Round(time.Millisecond),
			"tables", res.TablesChecked, "indexes", res.IndexesChecked, "notes", res.Notes)
	default:
		log.Warn("drill failed", "reason", res.Reason)
	}
	w.drillHealth(context.WithoutCancel(ctx), done, log)
	return nil
}

// drillSnapshot is the snapshot a drill restores: the pinned one, else the
// newest verified one still in S3.
func drillSnapshot(ctx context.Context, d Deps, a drills.DrillArgs) (snapshots.Snapshot, error) {
	if a.SnapshotID != 0 {
		s, err := snapshots.Get(ctx, d.Pool, a.SnapshotID)
		if err != nil {
			return s, err
		}
		if s.ProjectRef != a.ProjectRef {
			return snapshots.Snapshot{}, fmt.Errorf("snapshot %d belongs to %s, not %s", s.ID, s.ProjectRef, a.ProjectRef)
		}
		return s, s.Usable()
	}
	list, err := snapshots.SnapshotListByProject(ctx, d.Pool, a.ProjectRef, 100)
	if err != nil {
		return snapshots.Snapshot{}, err
	}
	for _, s := range list {
		if s.Status == snapshots.StatusVerified {
			return s, nil
		}
	}
	return snapshots.Snapshot{}, fmt.Errorf("project %s has no verified snapshot to drill", a.ProjectRef)
}

// watch cancels ctx with errYield as soon as a restore of ref, or one on
// the drill's cluster, is queued or running.
func (w *DrillWorker) watch(ctx context.Context, cancel context.CancelCauseFunc, ref, clusterName string, log *slog.Logger) (stop func()) {
	return periodic.Every(ctx, cmp.Or(w.d.Drill.WatchEvery, time.Second), func(ctx context.Context) bool {
		busy, err := restoreActive(ctx, w.d.Pool, ref, clusterName)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("could not look for restores to yield to", "err", err)
			}
			return true
		}
		if busy {
			cancel(errYield)
			return false
		}
		return true
	})
}

// restoreActive says whether a restore or rollback of ref, or of a project
// on cluster clusterName, is queued or running, or holds ref's project lock.
func restoreActive(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, ref, clusterName string) (bool, error) {
	key := uint64(lockKey(ref))
	var busy bool
	err := db.QueryRow(ctx, `SELECT EXISTS (
			SELECT 1 FROM river_job j LEFT JOIN projects p ON p.ref = j.args->>'project_ref'
			WHERE j.kind IN ($1, $2) AND j.state IN ('available', 'running', 'retryable', 'pending')
			  AND (j.args->>'project_ref' = $3 OR coalesce(p.cluster, 'default') = $4))
		OR EXISTS (
			SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
			  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND l.classid::int8 = $5 AND l.objid::int8 = $6)`,
		tickets.RestoreArgs{}.Kind(), tickets.RollbackArgs{}.Kind(), ref, clusterName, int64(key>>32), int64(key&0xffffffff)).Scan(&busy)
	return busy, err
}

// dropStale drops the scratch databases of ref's earlier drills whose attempt
// is over but whose copy is still recorded (a killed worker's): each is
// recorded as that drill's, so dropping it is safe.
func (w *DrillWorker) dropStale(ctx context.Context, ref string, keep, jobID int64, log *slog.Logger) {
	stale, err := drills.DrillsStale(ctx, w.d.Pool, ref, keep, jobID)
	if err != nil {
		log.Warn("could not read earlier drills' scratch databases", "err", err)
		return
	}
	for _, s := range stale {
		cl, err := runbook.ClusterNamed(w.d.runbook(), cmp.Or(s.Cluster, cluster.Default))
		switch {
		case err != nil:
		case s.ScratchState == drills.ScratchMade:
			err = cl.Drop(ctx, s.ScratchDatabase)
		default:
			// Planned: the attempt died around the create. A database of
			// that name is not recorded as made by it: left alone.
			if exists, eerr := cl.Exists(ctx, s.ScratchDatabase); eerr != nil {
				err = eerr
			} else if exists {
				log.Error("an earlier drill's planned scratch database exists but is not recorded as made by it; left alone, drop it by hand",
					"drill_id", s.ID, "database", s.ScratchDatabase)
			}
		}
		if err != nil {
			log.Error("could not drop an earlier drill's scratch database", "drill_id", s.ID, "database", s.ScratchDatabase, "err", err)
			continue
		}
		_ = drills.DrillScratchSet(ctx, w.d.Pool, s.ID, drills.ScratchDropped)
		_ = drills.DrillAbandon(ctx, w.d.Pool, s.ID, "the drill's worker stopped before it finished; its scratch database was dropped by a later drill")
		log.Warn("cleaned up after an earlier drill", "drill_id", s.ID, "database", s.ScratchDatabase)
	}
}

// drillHealth raises or clears the drill alarms of a finished drill.
func (w *DrillWorker) drillHealth(ctx context.Context, d drills.Drill, log *slog.Logger) {
	earlier, err := drills.RecoveriesBefore(ctx, w.d.Pool, d)
	if err == nil {
		_, err = w.d.alarms(ctx).apply(ctx, d.ProjectRef, drills.DrillConditions, drills.DrillFindings(d, earlier))
	}
	if err != nil {
		log.Error("could not evaluate the drill's alarms", "err", err)
	}
}

// drillRun is one drill attempt's work on the cluster.
type drillRun struct {
	d      Deps
	log    *slog.Logger
	rec    drills.Drill
	p      snapshots.Project
	projCl *cluster.Cluster // the project's cluster (its owner role lives there)
	cl     *cluster.Cluster // the drill's cluster
	snap   snapshots.Snapshot
	// amcheck holds the names of the clusters known to have amcheck
	// (the worker's: asked once per cluster).
	amcheck *sync.Map
}

func (r *drillRun) step(ctx context.Context, s Step) error {
	if r.d.Drill.Hook == nil {
		return nil
	}
	if err := r.d.Drill.Hook(ctx, r.rec.ID, s); err != nil {
		return fmt.Errorf("at step %s: %w", s, err)
	}
	return nil
}

// owner is the role the drill runs the dump as: the project's owner role,
// exactly as a restore of it would (made on the drill's cluster when that is
// another one); a project without a live database gets an owner role of the
// scratch database's, as a new-project restore does. It only reads; ensure
// says the role is to be made (EnsureOwnerRole) on the drill's cluster once
// the precheck has passed. a is the admin connection to the drill's
// cluster, which serves the lookups when it is the project's.
func (r *drillRun) owner(ctx context.Context, a *cluster.Admin, scratch string) (owner string, ensure bool, err error) {
	if r.p.DatabaseName == "" {
		return runbook.NewOwnerRole(scratch), true, nil
	}
	if r.cl.Name() == r.projCl.Name() {
		owner, err = runbook.LiveOwnerOn(ctx, a, r.p, r.p.DatabaseName)
		return owner, false, err
	}
	owner, err = runbook.LiveOwner(ctx, r.projCl, r.p, r.p.DatabaseName)
	return owner, true, err
}

// prepare opens the drill's admin connection to its cluster and reads, with
// it, the owner role and whether the scratch name is taken. It changes
// nothing, so it runs while the snapshot's precheck reads S3.
func (r *drillRun) prepare(ctx context.Context, scratch string) (a *cluster.Admin, owner string, ensure, taken bool, err error) {
	if a, err = r.cl.OpenAdmin(ctx); err != nil {
		return nil, "", false, false, err
	}
	if owner, ensure, err = r.owner(ctx, a, scratch); err == nil {
		taken, err = a.Exists(ctx, scratch)
	}
	if err != nil {
		a.Close(ctx)
		return nil, "", false, false, err
	}
	return a, owner, ensure, taken, nil
}

// phased times the drill's phases into res.
type phased struct{ res *drills.Result }

// since records phase name as having run from t0 until now.
func (p phased) since(name string, t0 time.Time) {
	p.res.Phases = append(p.res.Phases, drills.Phase{Name: name, MS: time.Since(t0).Milliseconds()})
}

// run restores, checks and drops the scratch copy, timing each phase. One
// admin connection to the maintenance database (cluster.Admin) serves the
// lookups, the create, the login role and the drop; one admin connection to
// the copy serves its shaping, the side effects and amcheck's install.
// Steps that do not depend on each other overlap: the S3 precheck with the
// lookups; after CREATE DATABASE, the login role with the connection to the
// copy and the record of the copy as made.
func (r *drillRun) run(ctx context.Context) (res drills.Result, err error) {
	start := time.Now()
	res = drills.Result{Bytes: r.snap.Size}
	ph := phased{&res}
	if err := r.snap.Usable(); err != nil {
		return res, err
	}
	base := r.p.DatabaseName
	if base == "" {
		base = cluster.NewProjectDatabase(r.p.Ref)
	}
	scratch := cluster.DrillName(base, r.rec.ID)
	prechecked := make(chan error, 1)
	go func() {
		// The precheck reads the object only: no owner role is needed.
		prechecked <- r.scratch("").Precheck(ctx, r.snap)
	}()
	a, owner, ensure, taken, err := r.prepare(ctx, scratch)
	if perr := <-prechecked; err == nil && perr != nil { // the owner's error first, as when they ran in turn
		a.Close(ctx)
		err = perr
	}
	if err != nil {
		return res, err
	}
	defer a.Close(ctx) // after the drop below (deferred later, run first)
	if ensure {
		if err := a.EnsureOwnerRole(ctx, owner); err != nil {
			return res, err
		}
	}
	// Recorded before it exists: a killed attempt's copy is found by it; a
	// name on the cluster that is not ours is left alone.
	if err := drills.DrillScratchPlan(ctx, r.d.Pool, r.rec.ID, scratch); err != nil {
		return res, err
	}
	if taken {
		_ = drills.DrillScratchSet(context.WithoutCancel(ctx), r.d.Pool, r.rec.ID, drills.ScratchNone)
		return res, fmt.Errorf("database %s exists already and is not this drill's: it was left alone", scratch)
	}
	ph.since(drills.PhasePrepare, start)
	t0 := time.Now()
	// CREATE DATABASE fails on a name that exists, so what it makes is this
	// attempt's: it is dropped at the end, whatever fails from here on.
	if err := a.CreateOwnedDatabase(ctx, scratch, owner); err != nil {
		return res, err
	}
	var sess *cluster.Session // one login role for the restore and the checks
	var copyConn *pgx.Conn    // the admin's connection to the copy
	defer func() {
		t0 := time.Now()
		if copyConn != nil {
			copyConn.Close(context.WithoutCancel(ctx))
		}
		recorded := r.dropScratch(ctx, a, scratch)
		if sess != nil {
			// After the drop: nothing is left in the copy for the login
			// role to hand over, so it is only dropped (CloseOn hands over
			// first if the drop failed).
			if err := sess.CloseOn(context.WithoutCancel(ctx), a); err != nil {
				r.log.Error("could not drop the drill's login role", "role", sess.Login(), "err", err)
			}
		}
		recorded()
		ph.since(drills.PhaseDrop, t0)
	}()
	if err := r.created(ctx, a, scratch, owner, &sess, &copyConn); err != nil {
		return res, err
	}
	ph.since(drills.PhaseCreate, t0)
	if err := r.step(ctx, StepPrepared); err != nil {
		return res, err
	}
	t0 = time.Now()
	// The COPY row counts are checked against the inventory; the dump's
	// extensions are created on the admin's connection to the copy.
	applied, err := r.scratch(owner).ApplyAsOn(ctx, r.cl, r.snap, scratch, sess, copyConn)
	if err != nil {
		return res, err
	}
	ph.since(drills.PhaseRestore, t0)
	t0 = time.Now()
	if err := copyConn.Ping(ctx); err != nil { // idle through the restore: lost, it is opened again
		copyConn.Close(context.WithoutCancel(ctx))
		if copyConn, err = r.cl.Connect(ctx, scratch); err != nil {
			return res, err
		}
	}
	disabled, err := cluster.DisableSideEffects(ctx, copyConn)
	if err != nil {
		return res, err
	}
	ph.since(drills.PhaseSideEffects, t0)
	res.Recovery = time.Since(start)
	res.Notes = append(res.Notes, applied.Warnings...)
	res.Notes = append(res.Notes, disabled...)
	if err := r.step(ctx, StepApplied); err != nil {
		return res, err
	}
	t0 = time.Now()
	c, err := r.check(ctx, copyConn, sess)
	ph.since(drills.PhaseChecks, t0)
	res.Phases = append(res.Phases, c.phases...)
	res.TablesChecked, res.RowsChecked, res.IndexesChecked, res.FKsChecked = c.tables, c.rows, c.indexes, c.fks
	res.Notes = append(res.Notes, c.notes...)
	if err != nil {
		return res, err
	}
	if err := r.step(ctx, StepVerified); err != nil {
		return res, err
	}
	return res, nil
}

// scratch is the scratch restore of the drill's snapshot as owner.
func (r *drillRun) scratch(owner string) *runbook.Scratch {
	return runbook.NewScratch(r.d.drillRunbook(), r.p.Ref, r.snap.ID, r.log, r.cl, owner)
}

// created finishes the copy database made on a, three steps at once: the
// login role (on a), the admin's connection to the copy shaped as a
// project's (cluster.ShapeOwned), and the record of the copy as made (on
// the portal). What each makes is set in *sess and *copyConn even when
// another fails, so that the caller's drop removes it.
func (r *drillRun) created(ctx context.Context, a *cluster.Admin, scratch, owner string, sess **cluster.Session, copyConn **pgx.Conn) error {
	var wg sync.WaitGroup
	var connErr, recErr error
	wg.Go(func() {
		conn, err := r.cl.Connect(ctx, scratch)
		if err != nil {
			connErr = err
			return
		}
		*copyConn = conn
		connErr = cluster.ShapeOwned(ctx, conn, scratch, owner)
	})
	wg.Go(func() { recErr = drills.DrillScratchSet(ctx, r.d.Pool, r.rec.ID, drills.ScratchMade) })
	s, sessErr := a.OwnerSession(ctx, scratch, owner)
	if sessErr == nil {
		*sess = s
	}
	if err := r.step(ctx, StepDrillCreating); err != nil {
		sessErr = errors.Join(sessErr, err)
	}
	wg.Wait()
	return errors.Join(sessErr, connErr, recErr)
}

// dropScratch drops the drill's scratch database on a and records it as
// dropped, on the portal while the caller goes on: recorded waits for that.
func (r *drillRun) dropScratch(ctx context.Context, a *cluster.Admin, scratch string) (recorded func()) {
	ctx = context.WithoutCancel(ctx)
	if err := a.DropIdle(ctx, scratch); err != nil {
		r.log.Error("could not drop the drill's scratch database; the next drill of the project drops it", "database", scratch, "err", err)
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := drills.DrillScratchSet(ctx, r.d.Pool, r.rec.ID, drills.ScratchDropped); err != nil {
			r.log.Error("could not record the scratch database as dropped", "database", scratch, "err", err)
		}
	}()
	return func() { <-done }
}
