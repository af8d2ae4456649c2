package runbook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/periodic"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

// A ticket's restore is one of full or tables scope, destructive or into a
// new project (or an undelete). Every kind restores into a database or
// schema of its own first and verifies it; the live database changes only in
// the final short step (a transactional rename, or a one-transaction table
// swap). A retried attempt (after a crash) reads the ticket's records to
// find where the last one got and carries on, or starts over.

// errTicketCancelled is the cause of a restore's context ending because a
// person cancelled the ticket.
var errTicketCancelled = errors.New("the ticket was cancelled")

// errAfterCutover is an error met after the live database was replaced:
// the attempt is retried (it finishes from the record), the ticket is not
// failed.
type errAfterCutover struct{ err error }

func (e errAfterCutover) Error() string { return "after the cut-over: " + e.err.Error() }
func (e errAfterCutover) Unwrap() error { return e.err }

// IsAfterCutover tells whether err was met after the live database was
// replaced (or a rollback swapped back): the attempt must be retried to
// finish from the record, and the ticket must not fail.
func IsAfterCutover(err error) bool { return errors.As(err, new(errAfterCutover)) }

// Kind names a ticket's kind of restore (scope_mode), for logs and metrics.
func Kind(t tickets.Ticket) string {
	return string(t.Scope.Kind) + "_" + string(t.Mode)
}

// Attempt is one attempt at a ticket's restore, as its worker runs it.
type Attempt struct {
	Number int          // the attempt's number (1-based), for the step log
	Log    *slog.Logger // with the ticket's and the job's attributes
	// Alive tells the project lock is still held (taking it again if its
	// session died); an error stops the attempt.
	Alive func(context.Context) error
	// Held tells the project lock's session answers now; drops check it.
	Held func(context.Context) error
}

// Outcome is what an attempt of Run came to, beside its error.
type Outcome struct {
	// Result is the ticket's result so far: complete on success, and its
	// warnings and step timings (Steps) whatever happened.
	Result tickets.Result
	// Cancelled: a person cancelled the ticket, the attempt removed its
	// staging copy.
	Cancelled bool
	// Interrupted: the attempt's context ended (the worker shuts down, or
	// the project lock was lost) before it was done.
	Interrupted bool
	// Progressed: the attempt reached a phase, so a fault now starts a new
	// outage.
	Progressed bool

	run *restoreRun
}

// Transient tells whether err ended the attempt because of a Postgres fault
// (a connection error, or a broken stream while a server restarted).
func (o Outcome) Transient(ctx context.Context, err error) bool { return o.run.transient(ctx, err) }

// NoteFault writes a Postgres fault on the ticket's progress, when the
// portal's database answers, so staff see why the restore waits.
func (o Outcome) NoteFault(ctx context.Context, err error) { o.run.noteFault(ctx, err) }

// Run performs one attempt at ticket t's restore, which must be running.
// Its records tell a retry where this attempt got. The error is nil on
// success; ErrAwaitingCutover when a staged restore paused for review; an
// IsAfterCutover error when only the recording after the cut-over failed.
func Run(ctx context.Context, d Deps, t tickets.Ticket, a Attempt) (Outcome, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &restoreRun{d: d, t: t, log: a.Log.With("kind", Kind(t)), cancel: cancel, alive: a.Alive, held: a.Held}
	r.steps = newStepLog(d.Pool, t.ID, tickets.StepOpRestore, a.Number, r.log)
	r.steps.bytes = r.restoreBytes
	r.readStarts(ctx)
	stopProgress := r.reportProgress(ctx)
	res, err := r.run(ctx)
	stopProgress()
	res.Steps = r.timings.done()
	r.mu.Lock()
	progressed := r.progressed
	r.mu.Unlock()
	return Outcome{
		Result:      res,
		Cancelled:   errors.Is(context.Cause(ctx), errTicketCancelled),
		Interrupted: ctx.Err() != nil,
		Progressed:  progressed,
		run:         r,
	}, err
}

// restoreRun is one attempt at one ticket's restore.
type restoreRun struct {
	d      Deps
	t      tickets.Ticket
	log    *slog.Logger
	cancel context.CancelCauseFunc
	alive  func(context.Context) error // the project lock still held (taken again if its session died)
	held   func(context.Context) error // the project lock's session answers now

	starts     pgStarts // postmaster start times when the attempt began (pgfault.go)
	progressed bool     // reached a phase: a fault now starts a new outage
	timings    stepTimer
	steps      *stepLog // the ticket's step log (steplog.go)

	mu   sync.Mutex
	prog tickets.Progress
	src  *objstore.Reader
	dump *snapshots.Dump // what apply reads: its ranges' bytes, not src's, are the progress

	cl    *cluster.Cluster // the project's cluster (identity.go)
	owner string           // the role the dump runs as (identity.go)
	// session, when set, is the owner session apply runs the dump through:
	// the caller's (a drill's, which checks the copy through it too), left
	// open.
	session *cluster.Session
	// extAdmin, when set, is the caller's admin connection to the target
	// database that creates the dump's extensions (a drill's; else one each).
	extAdmin *pgx.Conn
}

func (r *restoreRun) cluster() (*cluster.Cluster, error) {
	if r.cl != nil {
		return r.cl, nil
	}
	return clusterNamed(r.d, cluster.Default)
}

// owner is the ticket's hand on cl: records before creates, checks before drops.
func (r *restoreRun) records(cl *cluster.Cluster) recorder {
	return recorder{d: r.d, cl: cl, ticketID: r.t.ID, held: r.held}
}

// step calls the test hook at step s.
func (r *restoreRun) step(ctx context.Context, s Step) error {
	r.stepReached(s)
	if r.d.StepHook == nil {
		return nil
	}
	if err := r.d.StepHook(ctx, r.t.ID, s); err != nil {
		return fmt.Errorf("at step %s: %w", s, err)
	}
	return nil
}

func (r *restoreRun) setPhase(phase, msg string) {
	r.mu.Lock()
	r.prog.Phase, r.prog.Message = phase, msg
	r.progressed = true
	r.mu.Unlock()
	if phase == "prepare" || phase == tickets.PhaseCutover {
		r.mark(phase)
	}
	r.log.Info("restore phase", "phase", phase, "detail", msg)
}

// reportProgress writes the progress to the ticket every second until stop.
// When the ticket has left the running state (cancelled), it cancels ctx.
func (r *restoreRun) reportProgress(ctx context.Context) (stop func()) {
	// The ctx ends at stop, which ends a wait for the lock's session.
	return periodic.Every(ctx, time.Second, func(ctx context.Context) bool {
		if err := r.alive(ctx); err != nil {
			if ctx.Err() != nil {
				return false
			}
			r.log.Error("stopping: the project lock is lost, another worker may take the job over", "err", err)
			r.cancel(err)
			return false
		}
		if err := r.flushProgress(ctx); errors.Is(err, tickets.ErrNotRunning) {
			r.cancel(errTicketCancelled)
			return false
		} else if err != nil {
			r.log.Warn("could not record progress", "err", err)
		}
		return true
	})
}

func (r *restoreRun) flushProgress(ctx context.Context) error {
	r.mu.Lock()
	p := r.prog
	if done, total := r.readProgress(); total > 0 {
		p.Bytes, p.BytesTotal = done, total
		p.Percent = 95 * float64(p.Bytes) / float64(p.BytesTotal)
	}
	r.mu.Unlock()
	return tickets.UpdateProgress(ctx, r.d.Pool, r.t.ID, p)
}

// readProgress is the compressed bytes apply has read of those it reads in
// all: by the dump's ranges for a ranged or parted read (src then serves only
// the first range and is closed early), else by src. Callers hold r.mu.
func (r *restoreRun) readProgress() (done, total int64) {
	switch {
	case r.dump != nil:
		return r.dump.Progress()
	case r.src != nil:
		return r.src.Offset(), r.src.Size()
	}
	return 0, 0
}

// run performs the restore the ticket asks for.
func (r *restoreRun) run(ctx context.Context) (tickets.Result, error) {
	r.mark("precheck")
	snap, err := snapshots.Get(ctx, r.d.Pool, r.t.SnapshotID)
	if err != nil {
		return tickets.Result{}, fmt.Errorf("snapshot %d: %w", r.t.SnapshotID, err)
	}
	if err := snap.Usable(); err != nil {
		return tickets.Result{}, err
	}
	if snap.ProjectRef != r.t.ProjectRef {
		return tickets.Result{}, fmt.Errorf("snapshot %d belongs to %s, not %s", snap.ID, snap.ProjectRef, r.t.ProjectRef)
	}
	var tables []extract.QualifiedName
	if r.t.Scope.Kind == tickets.ScopeTables {
		inv, err := snapshots.SnapshotTables(ctx, r.d.Pool, snap.ID)
		if err != nil {
			return tickets.Result{}, err
		}
		if tables, err = resolveTables(r.t.Scope.Tables, inv); err != nil {
			return tickets.Result{}, err
		}
	}
	if r.cl, err = clusterOf(ctx, r.d, r.t.ProjectRef); err != nil {
		return tickets.Result{}, err
	}
	if t, err := r.cl.StartedAt(ctx); err == nil {
		r.starts.project = t
	}
	switch {
	case r.t.Mode == tickets.ModeNewProject:
		return r.newProject(ctx, snap, tables)
	case r.t.Mode == tickets.ModeUndelete:
		return r.undelete(ctx, snap, tables) // undelete.go
	case r.t.Scope.Kind == tickets.ScopeFull:
		return r.fullDestructive(ctx, snap)
	default:
		return r.tablesDestructive(ctx, snap, tables)
	}
}

// resolveTables checks the ticket's tables against the snapshot's inventory.
func resolveTables(names []string, inv []snapshots.Table) ([]extract.QualifiedName, error) {
	known := map[extract.QualifiedName]bool{}
	for _, t := range inv {
		known[extract.QualifiedName{Schema: t.Schema, Name: t.Name}] = true
	}
	var out []extract.QualifiedName
	for _, n := range names {
		q, ok := extract.ParseQualifiedName(n)
		if !ok || !known[q] {
			return nil, fmt.Errorf("table %q is not in the snapshot's inventory", n)
		}
		out = append(out, q)
	}
	if len(out) == 0 {
		return nil, errors.New("a tables restore needs at least one table")
	}
	return out, nil
}

// applyUnlessResumed records the prepared step, applies the snapshot into
// dbname and records the applied step. A resumed staged review (staged.go)
// already holds its applied copy: it does none of it and has no result.
func (r *restoreRun) applyUnlessResumed(ctx context.Context, cl *cluster.Cluster, snap snapshots.Snapshot, dbname string, tables []extract.QualifiedName, resumed bool) (*restore.Result, error) {
	if resumed {
		return nil, nil
	}
	if err := r.step(ctx, StepPrepared); err != nil {
		return nil, err
	}
	res, err := r.apply(ctx, cl, snap, dbname, tables)
	if err != nil {
		return nil, err
	}
	if err := r.step(ctx, StepApplied); err != nil {
		return nil, err
	}
	return res, nil
}

// newStaging records the staging database (dropping the stale staging of a
// killed attempt), creates it owned by the live database's owner and records
// it made.
func (r *restoreRun) newStaging(ctx context.Context, cl *cluster.Cluster, own recorder, staging string) (tickets.DatabaseRecord, error) {
	r.setPhase("prepare", "creating staging database "+staging)
	stg, err := own.claim(ctx, staging, "", tickets.PurposeStaging, true)
	if err != nil {
		return tickets.DatabaseRecord{}, err
	}
	if err := cl.CreateOwned(ctx, staging, r.owner); err != nil {
		return tickets.DatabaseRecord{}, err
	}
	if err := own.made(ctx, stg, nil); err != nil {
		return tickets.DatabaseRecord{}, err
	}
	return stg, nil
}

// apply streams the snapshot from S3 through gunzip into database dbname.
func (r *restoreRun) apply(ctx context.Context, cl *cluster.Cluster, snap snapshots.Snapshot, dbname string, tables []extract.QualifiedName) (*restore.Result, error) {
	src, err := snapshots.OpenVerified(ctx, r.d.snapshots(), snap, r.d.enqueueVerify) // only the verified version
	if err != nil {
		return nil, err
	}
	defer src.Close()
	r.mu.Lock()
	r.src = src
	r.mu.Unlock()
	read := src.Offset // bytes received from S3, for the metric
	defer func() {
		r.mu.Lock()
		r.src, r.dump = nil, nil
		r.mu.Unlock()
		if r.d.OnRead != nil {
			r.d.OnRead(read(), src.Resumed)
		}
	}()
	gz, err := r.openDump(ctx, snap, src, tables) // seek.go: ranged through the access index when it can
	if err != nil {
		return nil, err
	}
	defer gz.Close()
	read = gz.BytesRead // a ranged read closes src early, whose Offset is then the whole object
	r.mu.Lock()
	r.dump = gz
	r.mu.Unlock()
	opts, closeSession, err := r.applyOptions(ctx, cl, dbname, r.owner)
	if err != nil {
		return nil, err
	}
	defer closeSession()
	opts.Jobs = r.d.Config.Worker.ApplyJobs
	opts.Tables = tables
	opts.Progress = func(p restore.Progress) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.prog.Rows = p.Rows
		r.prog.TablesDone = len(p.Tables)
		if n := len(p.Tables); n > 0 {
			r.prog.CurrentTable = p.Tables[n-1].Table.String()
		}
		r.prog.Phase = "apply: " + p.Phase.String()
	}
	res, err := restore.Apply(ctx, gz, opts)
	if err != nil {
		return nil, fmt.Errorf("restore into %s: %w", dbname, err)
	}
	if !res.TrailerSeen {
		return nil, fmt.Errorf("snapshot %s has no completion trailer: the dump is incomplete", snap.Key)
	}
	if src.Resumed > 0 {
		r.log.Info("S3 stream resumed after broken connections", "resumed", src.Resumed)
	}
	r.mark("verify")
	if err := r.checkRowCounts(ctx, snap, res); err != nil {
		return nil, err
	}
	return res, nil
}

func rowCounts(res *restore.Result) map[string]int64 {
	m := map[string]int64{}
	for _, t := range res.Tables {
		m[t.Table.String()] = t.CopiedRows
	}
	return m
}

func (r *restoreRun) liveDatabase(ctx context.Context) (string, error) {
	p, err := snapshots.ProjectGet(ctx, r.d.Pool, r.t.ProjectRef)
	if err != nil {
		return "", fmt.Errorf("project %s: %w", r.t.ProjectRef, err)
	}
	if p.DatabaseName == "" {
		return "", fmt.Errorf("project %s has no registered database on the project cluster; a destructive restore needs one", r.t.ProjectRef)
	}
	if err := tickets.CheckLiveDatabase(ctx, r.d.Pool, p.DatabaseName); err != nil {
		return "", err
	}
	return p.DatabaseName, nil
}

// newProject restores into a fresh database, registered as a new project.
// The database is recorded for the ticket before it is created; a name that
// exists on the cluster and is not recorded as this ticket's is refused.
func (r *restoreRun) newProject(ctx context.Context, snap snapshots.Snapshot, tables []extract.QualifiedName) (tickets.Result, error) {
	cl, err := r.cluster()
	if err != nil {
		return tickets.Result{}, err
	}
	own := r.records(cl)
	ref := r.t.TargetRef()
	db := cluster.NewProjectDatabase(ref)
	if p, err := snapshots.ProjectGet(ctx, r.d.Pool, ref); err == nil {
		if rec, rerr := own.mine(ctx, db, "", tickets.PurposeNewProject); rerr == nil && rec.State != tickets.RecordPlanned &&
			p.RestoredFrom == r.t.ProjectRef && p.DatabaseName == db {
			// An earlier attempt finished the work but died before recording it
			// (perhaps between registering the project and its placement).
			if err := snapshots.ProjectSetPlacement(ctx, r.d.Pool, ref, cl.Name(), newOwnerRole(db)); err != nil {
				return tickets.Result{}, errAfterCutover{err}
			}
			if err := tickets.DatabaseRecordSet(ctx, r.d.Pool, rec.ID, tickets.RecordLive, "", nil); err != nil {
				return tickets.Result{}, errAfterCutover{err}
			}
			return tickets.Result{TargetDatabase: db, Message: fmt.Sprintf("New project %s (%s) was created by an earlier attempt.", ref, cl.Address(db))}, nil
		}
		return tickets.Result{}, fmt.Errorf("project %s exists already; choose another target ref", ref)
	}
	if err := tickets.CheckNewProjectTarget(ctx, r.d.Pool, cl, r.t); err != nil {
		return tickets.Result{}, err
	}
	if err := r.precheck(ctx, snap); err != nil {
		return tickets.Result{}, err
	}
	r.setPhase("prepare", "creating database "+db)
	rec, err := own.claim(ctx, db, "", tickets.PurposeNewProject, true) // drops a stale copy of a killed attempt
	if err != nil {
		return tickets.Result{}, err
	}
	if err := r.newProjectOwner(ctx, cl, db); err != nil {
		return tickets.Result{}, err
	}
	if err := cl.CreateOwned(ctx, db, r.owner); err != nil {
		if _, rerr := dropTicketRoles(ctx, r.d, cl, r.t.ID); rerr != nil {
			r.log.Error("could not drop the new database's owner role", "database", db, "err", rerr)
		}
		return tickets.Result{}, err
	}
	if err := own.made(ctx, rec, nil); err != nil {
		return tickets.Result{}, err
	}
	fail := func(err error) (tickets.Result, error) {
		if derr := own.drop(ctx, rec); derr != nil {
			r.log.Error("could not drop the incomplete new database", "database", db, "err", derr)
		} else if note, rerr := dropTicketRoles(ctx, r.d, cl, r.t.ID); rerr != nil {
			r.log.Error("could not drop the incomplete new database's owner role", "database", db, "err", rerr)
		} else if note != "" {
			r.log.Info("incomplete new database dropped", "database", db, "roles", note)
		}
		return tickets.Result{}, err
	}
	res, err := r.applyUnlessResumed(ctx, cl, snap, db, tables, false)
	if err != nil {
		return fail(err)
	}
	r.setPhase("verify", "disabling side effects")
	conn, err := cl.Connect(ctx, db)
	if err != nil {
		return fail(err)
	}
	disabled, err := cluster.DisableSideEffects(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		return fail(err)
	}
	if err := r.step(ctx, StepVerified); err != nil {
		return fail(err)
	}
	if err := snapshots.ProjectRegisterRestored(ctx, r.d.Pool, ref, db, r.t.ProjectRef); err != nil {
		return fail(err)
	}
	if err := snapshots.ProjectSetPlacement(ctx, r.d.Pool, ref, cl.Name(), r.owner); err != nil {
		return fail(err)
	}
	if err := r.step(ctx, StepRegistered); err != nil {
		return tickets.Result{}, errAfterCutover{err}
	}
	if err := tickets.DatabaseRecordSet(context.WithoutCancel(ctx), r.d.Pool, rec.ID, tickets.RecordLive, "", nil); err != nil {
		return tickets.Result{}, errAfterCutover{err}
	}
	out := tickets.Result{
		TargetDatabase:      db,
		RowCounts:           rowCounts(res),
		Warnings:            res.Warnings,
		DisabledSideEffects: disabled,
		Message: fmt.Sprintf("New project %s is at %s, owned by role %s (the source project's owner role is a member of it; connect with the cluster's usual credentials).",
			ref, cl.Address(db), r.owner),
	}
	if len(res.DroppedForeignKeys) > 0 {
		out.Warnings = append(out.Warnings, "left out foreign keys to tables not restored: "+strings.Join(res.DroppedForeignKeys, ", "))
	}
	return out, nil
}

// liveTarget finds the project's cluster and live database and takes the
// live database's owner role as the run's owner (a destructive restore's or
// an undelete's staging copy is owned by it).
func (r *restoreRun) liveTarget(ctx context.Context) (*cluster.Cluster, string, error) {
	cl, err := r.cluster()
	if err != nil {
		return nil, "", err
	}
	live, err := r.liveDatabase(ctx)
	if err != nil {
		return nil, "", err
	}
	if r.owner, err = r.liveOwnerRole(ctx, cl, live); err != nil {
		return nil, "", err
	}
	return cl, live, nil
}

// fullDestructive restores into a staging database, then swaps it in for
// the live one; the live one is kept, renamed, for rollback. Staging and kept
// are recorded for the ticket before they exist; the cut-over's intent is
// recorded before the swap and its fact right after, and a retry reads that
// record (the names on the cluster only cross-check it).
func (r *restoreRun) fullDestructive(ctx context.Context, snap snapshots.Snapshot) (_ tickets.Result, err error) {
	cl, live, err := r.liveTarget(ctx)
	if err != nil {
		return tickets.Result{}, err
	}
	own := r.records(cl)
	staging, kept := cluster.StagingName(live, r.t.ID), cluster.KeptName(live, r.t.ID)
	keptUntil := time.Now().Add(r.keepFor())

	// A previous attempt may have died in the cut-over: before its commit
	// (its block ended with its session; the record is settled, then the
	// work redone) or after it (done: finish).
	if err := cl.AllowConnections(ctx, live); err != nil { // a block left by a worker of before 0014
		return tickets.Result{}, err
	}
	if _, err := settleCutover(ctx, r.d, cl, r.t.ID, tickets.CutoverRestore, "the next attempt found it open"); err != nil && !errors.Is(err, tickets.ErrNoCutover) {
		return tickets.Result{}, err
	}
	if done, err := r.cutoverRecorded(ctx, cl, live, staging, kept, keptUntil); err != nil {
		return tickets.Result{}, err
	} else if done {
		r.log.Warn("cut-over was done by an earlier attempt; finishing")
		if rec, ok, err := tickets.DatabaseRecordActiveOn(ctx, r.d.Pool, cl.Name(), kept, ""); err == nil && ok && rec.DropAfter != nil {
			keptUntil = *rec.DropAfter // as recorded by the cut-over
		}
		return r.finishFull(ctx, live, kept, keptUntil, nil)
	}

	stg, resumed, err := r.stagedResume(ctx, own, staging) // staged.go: a paused restore goes on from its verified copy
	if err != nil {
		return tickets.Result{}, err
	}

	// The cheap checks first: the object, and a name this ticket may not
	// use, are refused before the expensive safety snapshot.
	if err := r.precheck(ctx, snap); err != nil {
		return tickets.Result{}, err
	}
	if !resumed {
		if stg, err = own.claim(ctx, staging, "", tickets.PurposeStaging, true); err != nil { // drops the stale staging of a killed attempt
			return tickets.Result{}, err
		}
	}
	safety, err := r.safetySnapshot(ctx, "capturing the live database before anything changes", func(d snapshots.Deps) (snapshots.Snapshot, error) {
		s, err := verify.Capture(ctx, d, r.t.ProjectRef, true)
		if err != nil {
			return s, fmt.Errorf("safety snapshot of %s: %w", live, err)
		}
		return s, nil
	})
	if err != nil {
		return tickets.Result{}, err
	}

	if !resumed {
		r.setPhase("prepare", "creating staging database "+staging)
		if err := cl.CreateOwned(ctx, staging, r.owner); err != nil {
			return tickets.Result{}, err
		}
		if err := own.made(ctx, stg, nil); err != nil {
			return tickets.Result{}, err
		}
	}
	fail := func(err error) (tickets.Result, error) {
		if r.keepReviewedCopy(ctx, resumed, err) {
			return tickets.Result{}, err // kept for the retry (staged.go)
		}
		if derr := own.drop(ctx, stg); derr != nil {
			r.log.Error("could not drop the staging database", "database", staging, "err", derr)
		}
		return tickets.Result{}, err
	}
	res, err := r.applyUnlessResumed(ctx, cl, snap, staging, nil, resumed)
	if err != nil {
		return fail(err)
	}
	if err := r.step(ctx, StepVerified); err != nil {
		return fail(err)
	}
	if !resumed {
		if paused, err := r.stagedPauseFull(ctx, cl, live, staging); err != nil {
			return fail(err)
		} else if paused {
			return tickets.Result{}, errAwaitingCutover // the verified copy stays for the review
		}
	}
	// The cut-over's intent: the kept name, recorded before the rename.
	keptRec, err := own.claim(ctx, kept, "", tickets.PurposeKept, false)
	if err != nil {
		return fail(err)
	}
	// From here on a cancel is refused: the cut-over is short and whole.
	r.setPhase(tickets.PhaseCutover, fmt.Sprintf("swapping %s in for %s", staging, live))
	if err := r.flushProgress(ctx); err != nil {
		_ = tickets.DatabaseRecordSet(context.WithoutCancel(ctx), r.d.Pool, keptRec.ID, tickets.RecordDropped, "", nil)
		if errors.Is(err, tickets.ErrNotRunning) {
			r.cancel(errTicketCancelled)
		}
		return fail(err)
	}
	if err := cutover(ctx, r.d, cl, r.t.ID, tickets.CutoverRestore, live, staging, kept, r.step); err != nil {
		_ = tickets.DatabaseRecordSet(context.WithoutCancel(ctx), r.d.Pool, keptRec.ID, tickets.RecordDropped, "", nil)
		return fail(err)
	}
	if err := r.step(ctx, StepCutover); err != nil {
		return tickets.Result{}, errAfterCutover{err}
	}
	// The cut-over's fact, right after it.
	if err := r.recordCutover(ctx, stg, keptRec, live, keptUntil); err != nil {
		return tickets.Result{}, errAfterCutover{err}
	}
	out, err := r.finishFull(ctx, live, kept, keptUntil, res)
	if safety.ID != 0 {
		out.Message += fmt.Sprintf(" Safety snapshot %d (%s) holds the state just before.", safety.ID, safety.Key)
	}
	return out, err
}

// recordCutover records that staging became live and live became kept.
func (r *restoreRun) recordCutover(ctx context.Context, stg, kept tickets.DatabaseRecord, live string, keptUntil time.Time) error {
	ctx = context.WithoutCancel(ctx)
	if err := tickets.DatabaseRecordSet(ctx, r.d.Pool, kept.ID, tickets.RecordMade, "", &keptUntil); err != nil {
		return err
	}
	if err := tickets.DatabaseRecordSet(ctx, r.d.Pool, stg.ID, tickets.RecordDropped, live, nil); err != nil {
		return err
	}
	return r.step(ctx, StepRecorded)
}

// cutoverRecorded reads the record of an earlier attempt's cut-over: done
// when its fact is recorded, or when its intent is and the cluster shows the
// swap committed (then the fact is recorded now). A record and a cluster that
// disagree are refused.
func (r *restoreRun) cutoverRecorded(ctx context.Context, cl *cluster.Cluster, live, staging, kept string, keptUntil time.Time) (bool, error) {
	keptRec, ok, err := tickets.DatabaseRecordActiveOn(ctx, r.d.Pool, cl.Name(), kept, "")
	if err != nil {
		return false, err
	}
	if !ok {
		if exists, err := cl.Exists(ctx, kept); err != nil {
			return false, err
		} else if exists {
			return false, fmt.Errorf("database %s exists already and is not recorded as made by ticket %d: it was left alone; resolve it by hand before retrying", kept, r.t.ID)
		}
		return false, nil
	}
	if keptRec.TicketID != r.t.ID || keptRec.Purpose != tickets.PurposeKept {
		return false, &tickets.NameTakenError{Name: kept, TicketID: keptRec.TicketID, Purpose: keptRec.Purpose}
	}
	st, stErr := cl.State(ctx, live, staging, kept)
	if keptRec.State == tickets.RecordMade {
		if st != cluster.SwapDone {
			return false, fmt.Errorf("the record says the cut-over is done, the cluster disagrees (%v): resolve it by hand", stErr)
		}
		return true, nil
	}
	// The intent is recorded: the swap may or may not have committed.
	switch {
	case stErr == nil && st == cluster.SwapDone:
		stg, err := r.records(cl).mine(ctx, staging, "", tickets.PurposeStaging)
		if err != nil {
			return false, err
		}
		if err := r.recordCutover(ctx, stg, keptRec, live, keptUntil); err != nil {
			return false, errAfterCutover{err}
		}
		return true, nil
	case stErr == nil && st == cluster.SwapNotStarted:
		// The swap did not commit: drop the intent and redo the work.
		return false, tickets.DatabaseRecordSet(ctx, r.d.Pool, keptRec.ID, tickets.RecordDropped, "", nil)
	}
	if exists, err := cl.Exists(ctx, kept); err != nil {
		return false, err
	} else if !exists {
		// No kept database: the swap did not happen (staging is gone too).
		return false, tickets.DatabaseRecordSet(ctx, r.d.Pool, keptRec.ID, tickets.RecordDropped, "", nil)
	}
	return false, fmt.Errorf("the record says a cut-over began; the cluster is in another state: %v", stErr)
}

// safetySnapshot captures the live database before anything changes, once
// per ticket: a retried attempt reuses the snapshot recorded for the ticket.
func (r *restoreRun) safetySnapshot(ctx context.Context, what string, capture func(snapshots.Deps) (snapshots.Snapshot, error)) (snapshots.Snapshot, error) {
	if id, ok, err := tickets.SafetySnapshotOf(ctx, r.d.Pool, r.t.ID); err != nil {
		return snapshots.Snapshot{}, err
	} else if ok {
		if s, ok := r.reuseSafetySnapshot(ctx, id); ok {
			return s, nil
		}
	}
	r.mark("safety snapshot")
	r.setPhase("safety snapshot", what)
	d := snapshots.NewDeps(r.d.Config, r.d.Pool, r.d.S3, r.log)
	d.Recorded = r.recordSafetySnapshot // with the catalog row: a kill after it leaves no unknown snapshot
	safety, err := capture(d)
	if err != nil {
		return snapshots.Snapshot{}, err
	}
	if err := r.step(ctx, StepSafetySnapshot); err != nil {
		return snapshots.Snapshot{}, err
	}
	if err := tickets.SafetySnapshotRecord(ctx, r.d.Pool, r.t.ID, safety.ID); err != nil {
		return snapshots.Snapshot{}, err
	}
	return safety, nil
}

// finishFull builds the result of a done cut-over. Its follow-ups (the
// cleanup job) never fail the restore: a cleanup that could not be scheduled
// is a warning, and the periodic sweep drops the kept copy from its record.
func (r *restoreRun) finishFull(ctx context.Context, live, kept string, keptUntil time.Time, res *restore.Result) (tickets.Result, error) {
	out := tickets.Result{
		TargetDatabase: live,
		KeptDatabase:   kept,
		KeptUntil:      &keptUntil,
		Message: fmt.Sprintf("Database %s now holds the snapshot; the replaced one is kept as %s until %s for rollback.",
			live, kept, keptUntil.UTC().Format("2006-01-02 15:04 UTC")),
	}
	if res != nil {
		out.RowCounts, out.Warnings = rowCounts(res), res.Warnings
	}
	if w := r.followUp(ctx, Cleanup{TicketID: r.t.ID, ProjectRef: r.t.ProjectRef, Database: kept}, keptUntil); w != "" {
		out.Warnings = append(out.Warnings, w)
	}
	return out, nil
}

// followUp schedules a cleanup; on failure it returns a warning for the
// ticket instead of an error.
func (r *restoreRun) followUp(ctx context.Context, args Cleanup, at time.Time) string {
	err := r.step(ctx, StepFollowUps)
	if err == nil {
		err = r.d.scheduleCleanup(ctx, args, at)
	}
	if err != nil {
		r.log.Error("could not schedule the cleanup; the periodic sweep will drop it from its record", "what", args.what(), "err", err)
		return fmt.Sprintf("the cleanup of %s could not be scheduled (%v); the periodic cleanup sweep drops it after %s",
			args.what(), err, at.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return ""
}

func (r *restoreRun) keepFor() time.Duration {
	if r.t.Options.KeepDays > 0 {
		return time.Duration(r.t.Options.KeepDays) * 24 * time.Hour
	}
	return r.d.Config.Worker.KeepFor
}

// verifiedSessions opens owner sessions on the staging copy (sc) and on live
// (lc), compares the tables' columns on both and refuses, with nothing
// changed, when live no longer matches the snapshot; then it records
// StepVerified. The caller defers closeSessions; on an error both sessions
// are already closed. (Tables-scope destructive restores and undeletes.)
func (r *restoreRun) verifiedSessions(ctx context.Context, cl *cluster.Cluster, staging, live string, tables []cluster.Table) (sc, lc *pgx.Conn, closeSessions func(), err error) {
	sc, closeSC, err := ownerSession(ctx, cl, staging, r.log)
	if err != nil {
		return nil, nil, nil, err
	}
	lc, closeLC, err := ownerSession(ctx, cl, live, r.log)
	if err != nil {
		closeSC()
		return nil, nil, nil, err
	}
	closeSessions = func() { closeLC(); closeSC() }
	r.setPhase("verify", "comparing the live tables' columns with the snapshot's")
	diff, err := cluster.ColumnDiff(ctx, lc, sc, tables)
	if err == nil && len(diff) > 0 {
		err = fmt.Errorf("the live tables no longer match the snapshot, nothing was changed:\n%s", strings.Join(diff, "\n"))
	}
	if err == nil {
		err = r.step(ctx, StepVerified)
	}
	if err != nil {
		closeSessions()
		return nil, nil, nil, err
	}
	return sc, lc, closeSessions, nil
}

// stagedCopy is a tables restore's or an undelete's verified staging copy:
// the apply's result (nil when resumed) and the owner sessions on the copy
// (sc) and on live (lc), which the caller closes with close.
type stagedCopy struct {
	res    *restore.Result
	sc, lc *pgx.Conn
	close  func()
}

// applyAndReview applies the snapshot into staging unless resumed, opens the
// verified sessions (verifiedSessions) and, on a first attempt, makes the
// staged review's comparison and pause (stagedPause; paused: the copy waits
// for an approver). On an error the sessions are closed already.
func (r *restoreRun) applyAndReview(ctx context.Context, cl *cluster.Cluster, snap snapshots.Snapshot, staging, live string, tables []extract.QualifiedName, ctables []cluster.Table, limits map[string]*compare.Limit, resumed bool) (_ stagedCopy, paused bool, _ error) {
	res, err := r.applyUnlessResumed(ctx, cl, snap, staging, tables, resumed)
	if err != nil {
		return stagedCopy{}, false, err
	}
	sc, lc, closeSessions, err := r.verifiedSessions(ctx, cl, staging, live, ctables)
	if err != nil {
		return stagedCopy{}, false, err
	}
	if !resumed {
		if paused, err = r.stagedPause(ctx, lc, sc, ctables, staging, limits); err != nil {
			closeSessions()
			return stagedCopy{}, paused, err
		}
	}
	return stagedCopy{res: res, sc: sc, lc: lc, close: closeSessions}, paused, nil
}

// tablesDestructive restores the tables into a staging database, checks they
// still fit the live ones, takes a safety snapshot of the live tables, and
// swaps the contents in one transaction that locks the live tables and keeps
// their rows in a backup database beside the live one (cluster.ReplaceRows).
// The swap is recorded before it starts and its transaction id before its
// commit; a retry reads that record first (runSwap, resolveSwap).
func (r *restoreRun) tablesDestructive(ctx context.Context, snap snapshots.Snapshot, tables []extract.QualifiedName) (_ tickets.Result, err error) {
	cl, live, err := r.liveTarget(ctx)
	if err != nil {
		return tickets.Result{}, err
	}
	own := r.records(cl)
	staging := cluster.StagingName(live, r.t.ID)
	backupDB := cluster.TableBackupName(live, r.t.ID)
	keptUntil := time.Now().Add(r.keepFor())
	ctables := make([]cluster.Table, len(tables))
	names := make([]string, len(tables))
	idents := make([]pgx.Identifier, len(tables))
	for i, q := range tables {
		ctables[i] = cluster.Table{Schema: q.Schema, Name: q.Name}
		names[i], idents[i] = ctables[i].String(), pgx.Identifier{q.Schema, q.Name}
	}

	if rec, err := tableSwapGet(ctx, r.d.Pool, r.t.ID, "restore"); err == nil {
		done, err := resolveSwap(ctx, r.d.Pool, cl, rec)
		if err != nil {
			return tickets.Result{}, err
		}
		if done {
			r.log.Warn("tables were swapped by an earlier attempt; finishing")
			r.dropStaleStaging(ctx, own, staging) // the killed attempt's, when it died before dropping it
			return r.finishTables(ctx, rec, cluster.Swapped{Before: rec.Before, After: rec.After}, nil)
		}
	} else if !errors.Is(err, errNoSwap) {
		return tickets.Result{}, err
	}
	stg, resumed, err := r.stagedResume(ctx, own, staging) // staged.go: a paused restore goes on from its verified copy
	if err != nil {
		return tickets.Result{}, err
	}

	if err := r.precheck(ctx, snap); err != nil {
		return tickets.Result{}, err
	}
	safety, err := r.safetySnapshot(ctx, "capturing the live tables before anything changes", func(d snapshots.Deps) (snapshots.Snapshot, error) {
		s, err := verify.CaptureTables(ctx, d, r.t.ProjectRef, idents)
		if err != nil {
			return s, fmt.Errorf("safety snapshot of %s in %s: %w", strings.Join(names, ", "), live, err)
		}
		return s, nil
	})
	if err != nil {
		return tickets.Result{}, err
	}

	if !resumed {
		if stg, err = r.newStaging(ctx, cl, own, staging); err != nil {
			return tickets.Result{}, err
		}
	}
	var bak *tickets.DatabaseRecord
	swapped, paused := false, false
	defer func() {
		if paused || r.keepReviewedCopy(ctx, resumed, err) {
			return // the staged review keeps the verified copy (staged.go)
		}
		if err := own.drop(ctx, stg); err != nil {
			r.log.Error("could not drop the staging database", "database", staging, "err", err)
		}
		if bak != nil && !swapped {
			if err := own.drop(ctx, *bak); err != nil {
				r.log.Error("could not drop the backup database", "database", backupDB, "err", err)
			}
		}
	}()
	var cp stagedCopy
	if cp, paused, err = r.applyAndReview(ctx, cl, snap, staging, live, tables, ctables, nil, resumed); err != nil {
		return tickets.Result{}, err
	}
	defer cp.close()
	if paused {
		return tickets.Result{}, errAwaitingCutover
	}
	res, sc, lc := cp.res, cp.sc, cp.lc

	// The backup database is recorded before it is made; a stale one of a
	// killed attempt (recorded, and its swap did not commit) is dropped first.
	r.setPhase("backup", "creating backup database "+backupDB)
	rec, err := own.claim(ctx, backupDB, "", tickets.PurposeTableBackup, true)
	if err != nil {
		return tickets.Result{}, err
	}
	bak = &rec
	if err := cl.Create(ctx, backupDB); err != nil {
		return tickets.Result{}, err
	}
	if err := own.made(ctx, rec, &keptUntil); err != nil {
		return tickets.Result{}, err
	}
	if err := r.step(ctx, StepBackedUp); err != nil {
		return tickets.Result{}, err
	}
	kc, err := cl.Connect(ctx, backupDB)
	if err != nil {
		return tickets.Result{}, err
	}
	defer kc.Close(context.WithoutCancel(ctx))
	r.setPhase(tickets.PhaseCutover, "locking the live tables, keeping their rows and replacing them in one transaction")
	if err := r.flushProgress(ctx); err != nil {
		if errors.Is(err, tickets.ErrNotRunning) {
			r.cancel(errTicketCancelled)
		}
		return tickets.Result{}, err
	}
	swapRec := tableSwap{TicketID: r.t.ID, Op: "restore", LiveDatabase: live, KeepDatabase: backupDB, KeepSchema: keepSchemaBackup,
		Tables: names, KeptUntil: &keptUntil, hook: r.step}
	sw, err := runSwap(context.WithoutCancel(ctx), r.d.Pool, cl, swapRec, lc, cluster.Source{Conn: sc}, cluster.Keep{Conn: kc, Schema: keepSchemaBackup}, ctables,
		cluster.SwapOptions{
			AllowDangling: r.t.Options.AllowDangling,
			OnLockWait:    lockWaitReporter(r.setPhase),
			Step:          func(s string) { r.setPhase(tickets.PhaseCutover, "table swap: "+s) },
		})
	if err != nil {
		swapped = errors.As(err, new(errAfterCutover)) // committed, or perhaps: the backup stays
		return tickets.Result{}, err
	}
	swapped = true
	if err := r.step(ctx, StepCutover); err != nil {
		return tickets.Result{}, errAfterCutover{err}
	}
	if err := r.step(ctx, StepRecorded); err != nil {
		return tickets.Result{}, errAfterCutover{err}
	}
	out, err := r.finishTables(ctx, swapRec, sw, res)
	out.Message += fmt.Sprintf(" Safety snapshot %d (%s) holds the tables just before.", safety.ID, safety.Key)
	return out, err
}

// finishTables builds the result of a committed table swap. Its follow-ups
// (the cleanup job) never fail the restore: a cleanup that could not be
// scheduled is a warning, and the periodic sweep drops the backup from its
// record.
func (r *restoreRun) finishTables(ctx context.Context, rec tableSwap, sw cluster.Swapped, res *restore.Result) (tickets.Result, error) {
	keptUntil := time.Now().Add(r.keepFor())
	if rec.KeptUntil != nil {
		keptUntil = *rec.KeptUntil
	}
	warning := r.followUp(ctx, Cleanup{TicketID: r.t.ID, ProjectRef: r.t.ProjectRef, Database: rec.KeepDatabase}, keptUntil)
	kept := map[string]string{}
	for _, t := range rec.Tables {
		kept[t] = rec.KeepDatabase + "." + rec.KeepSchema + "." + t
	}
	out := tickets.Result{TargetDatabase: rec.LiveDatabase, KeptTables: kept, KeptUntil: &keptUntil, RowCounts: sw.After}
	var lines []string
	for _, n := range sortedKeys(sw.After) {
		lines = append(lines, fmt.Sprintf("%s: %d rows before, %d after", n, sw.Before[n], sw.After[n]))
	}
	out.Warnings = append(out.Warnings, sw.Dangling...)
	if res != nil {
		out.Warnings = append(out.Warnings, res.Warnings...)
	}
	out.Message = fmt.Sprintf("Tables replaced in %s (%s); the previous rows are kept in database %s (schema %s) until %s for rollback.",
		rec.LiveDatabase, joinLines(lines), rec.KeepDatabase, rec.KeepSchema, keptUntil.UTC().Format("2006-01-02 15:04 UTC"))
	if len(sw.DisabledTriggers) > 0 {
		out.Message += fmt.Sprintf(" Triggers held off during the load and enabled again: %s.", strings.Join(sw.DisabledTriggers, ", "))
	}
	if sw.LockWaited > time.Second {
		out.Message += fmt.Sprintf(" Waited %s for other sessions to release the tables.", sw.LockWaited.Round(100*time.Millisecond))
	}
	if warning != "" {
		out.Warnings = append(out.Warnings, warning)
	}
	return out, nil
}
