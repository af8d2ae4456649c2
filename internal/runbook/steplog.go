package runbook

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

// More steps of the restore sequences (see the Step constants in runbook.go),
// so that a fault can be injected, or a worker killed, between every pair
// of the points where a restore or rollback writes its record.
const (
	// StepSafetySnapshot: the safety snapshot is in S3 and in the catalog
	// (and recorded on the ticket in the catalog's transaction).
	StepSafetySnapshot Step = "safety-snapshot"
	// StepRegistered: a new project is registered with its placement, and
	// its database not yet recorded live.
	StepRegistered Step = "registered"
	// StepBackedUp: table scope, the backup database is made and recorded,
	// the swap not begun.
	StepBackedUp Step = "backed-up"
	// StepSwapLoaded: a table swap's transaction holds the locks, the old rows
	// are kept and the new ones loaded, nothing committed.
	StepSwapLoaded Step = "swap-loaded"
	// StepSwapCommitting: the swap's transaction id is recorded, its COMMIT
	// not sent.
	StepSwapCommitting Step = "swap-committing"
	// StepSwapCommitted: the swap committed on live, not yet recorded so.
	StepSwapCommitted Step = "swap-committed"

	// A rollback's steps. Its table swap has the swap steps above with the
	// prefix "rollback-" (swapStep).
	StepRollbackPrepared Step = "rollback-prepared" // the aside name claimed (full) or the aside database made (tables)
	StepRollbackBlocked  Step = "rollback-blocked"  // a full rollback's cut-over holds connections off, not committed
	StepRollbackCutover  Step = "rollback-cut-over" // the swap back committed (full: before its record)
	StepRollbackRecorded Step = "rollback-recorded" // full: the databases' records written, the ticket's not
	// StepRollbackFollowUps: the rollback is recorded, its cleanup not
	// scheduled yet.
	StepRollbackFollowUps Step = "rollback-follow-ups"
)

// swapStep names step s of a table swap of op ("restore" or "rollback").
func swapStep(op string, s Step) Step {
	if op == "rollback" {
		return "rollback-" + s
	}
	return s
}

// step calls the test hook of ticketID at step s (rollbacks: restores have
// restoreRun.step, which also moves the step timer on).
func (d Deps) step(ctx context.Context, ticketID int64, s Step) error {
	rollbackStepLogged(ctx, s)
	if d.StepHook == nil {
		return nil
	}
	if err := d.StepHook(ctx, ticketID, s); err != nil {
		return fmt.Errorf("at step %s: %w", s, err)
	}
	return nil
}

// step calls the swap's hook at step s of its op.
func (s tableSwap) step(ctx context.Context, st Step) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(ctx, swapStep(s.Op, st))
}

// hookOnLoaded makes opt's Step callback call the swap's hook when the new
// rows are loaded; the returned function reports the hook's error, which
// BeforeCommit returns, so the swap rolls back.
func (s tableSwap) hookOnLoaded(ctx context.Context, opt *cluster.SwapOptions) func() error {
	if s.hook == nil {
		return func() error { return nil }
	}
	var mu sync.Mutex
	var herr error
	prev := opt.Step
	opt.Step = func(name string) {
		if prev != nil {
			prev(name)
		}
		if name != "loaded" {
			return
		}
		if err := s.step(ctx, StepSwapLoaded); err != nil {
			mu.Lock()
			herr = err
			mu.Unlock()
		}
	}
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		return herr
	}
}

// recordSafetySnapshot records the run's safety snapshot on its ticket, in
// the transaction that adds it to the catalog (snapshots.Deps.Recorded).
func (r *restoreRun) recordSafetySnapshot(ctx context.Context, tx pgx.Tx, id int64) error {
	key, size, err := snapshotKeySize(ctx, tx, id)
	if err != nil {
		return err
	}
	r.steps.note(key, size)
	return tickets.SafetySnapshotRecord(ctx, tx, r.t.ID, id)
}

// reuseSafetySnapshot returns the ticket's recorded safety snapshot id when
// it is usable: verified, or verified now (an attempt killed while it was
// verifying its capture). One that fails verification is not reused; a new
// one replaces it on the ticket.
func (r *restoreRun) reuseSafetySnapshot(ctx context.Context, id int64) (snapshots.Snapshot, bool) {
	s, err := snapshots.Get(ctx, r.d.Pool, id)
	if err != nil {
		return s, false
	}
	if s.Status != snapshots.StatusVerified {
		if s, err = verify.Snapshot(ctx, snapshots.NewDeps(r.d.Config, r.d.Pool, r.d.S3, r.log), id); err != nil || s.Status != snapshots.StatusVerified {
			r.log.Warn("this ticket's safety snapshot does not verify; taking another", "snapshot_id", id, "err", err)
			return s, false
		}
	}
	r.log.Info("reusing this ticket's safety snapshot", "snapshot_id", id)
	return s, true
}

// dropStaleStaging drops the ticket's staging database staging when its
// record says it is still there: an attempt killed after its table swap
// committed never reached its deferred drop, and the retry only finishes.
// A failure is logged; the ticket's message lists what is left.
func (r *restoreRun) dropStaleStaging(ctx context.Context, own recorder, staging string) {
	rec, err := own.mine(ctx, staging, "", tickets.PurposeStaging)
	if err != nil {
		return // not recorded as ours (or dropped already): nothing to do
	}
	if err := own.drop(ctx, rec); err != nil {
		r.log.Error("could not drop the staging database of an earlier attempt", "database", staging, "err", err)
	}
}

// stepLog writes one attempt's steps to the ticket's step log
// (tickets.StepStart, StepFinish): a step is recorded when it starts and
// again when it ends, so a killed attempt leaves its last step unfinished.
// The log is for people and benchmarks: a write that fails is logged and the
// restore goes on. A nil *stepLog writes nothing.
type stepLog struct {
	db       tickets.DB
	ticketID int64
	op       string
	attempt  int
	log      *slog.Logger
	// bytes, when set, tells the bytes moved by the step ending (nil: none
	// known).
	bytes func(step string) *int64

	mu    sync.Mutex
	cur   string
	id    int64
	names []string
	moved *int64
}

func newStepLog(db tickets.DB, ticketID int64, op string, attempt int, log *slog.Logger) *stepLog {
	return &stepLog{db: db, ticketID: ticketID, op: op, attempt: attempt, log: log}
}

// stepLogTimeout bounds each write: a portal database that does not answer
// must not hold the restore up (its own fault handling deals with it).
const stepLogTimeout = 3 * time.Second

// start ends the current step and records step name as begun; a repeat of
// the current step is ignored.
func (l *stepLog) start(name string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == l.cur {
		return
	}
	l.finishLocked()
	ctx, cancel := context.WithTimeout(context.Background(), stepLogTimeout)
	defer cancel()
	id, err := tickets.StepStart(ctx, l.db, l.ticketID, l.op, l.attempt, name)
	if err != nil {
		l.log.Warn("could not record the start of a step", "step", name, "err", err)
		return
	}
	l.cur, l.id = name, id
}

// finish records the end of the current step.
func (l *stepLog) finish() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.finishLocked()
}

func (l *stepLog) finishLocked() {
	if l.id == 0 {
		l.cur = ""
		return
	}
	moved := l.moved
	if moved == nil && l.bytes != nil {
		moved = l.bytes(l.cur)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepLogTimeout)
	defer cancel()
	if err := tickets.StepFinish(ctx, l.db, l.id, l.names, moved); err != nil {
		l.log.Warn("could not record the end of a step", "step", l.cur, "err", err)
	}
	l.cur, l.id, l.names, l.moved = "", 0, nil, nil
}

// note adds what the current step made (a snapshot key, say) and the bytes
// it moved.
func (l *stepLog) note(name string, bytes int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, name)
	l.moved = &bytes
}

// restoreBytes is a restore's stepLog.bytes: the bytes of the dump read by
// the apply step.
func (r *restoreRun) restoreBytes(step string) *int64 {
	if step != "apply" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.src == nil {
		return nil
	}
	n, _ := r.readProgress()
	return &n
}

type stepLogKey struct{}

// withStepLog gives a rollback's steps (Deps.step) the attempt's log.
func withStepLog(ctx context.Context, l *stepLog) context.Context {
	return context.WithValue(ctx, stepLogKey{}, l)
}

// rollbackStepLogged moves a rollback's step log on at its hook points: the
// steps are "prepare" (until the aside copy is ready), "swap" (until the
// swap back committed), "record" and "follow-ups".
func rollbackStepLogged(ctx context.Context, s Step) {
	l, _ := ctx.Value(stepLogKey{}).(*stepLog)
	switch s {
	case StepRollbackPrepared:
		l.start("swap")
	case StepRollbackCutover:
		l.start("record")
	case StepRollbackFollowUps:
		l.start("follow-ups")
	}
}
