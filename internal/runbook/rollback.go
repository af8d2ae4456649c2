package runbook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// A rollback undoes a succeeded restore with what it kept: the replaced
// database swaps back in, the backed-up rows go back into their tables, the
// rows an undelete inserted are taken out again, or a new project made by
// the restore is removed. Every step checks first whether an earlier attempt
// already did it.

// rollbacker is one attempt at a ticket's rollback.
type rollbacker struct {
	d Deps
}

// Rollback performs one attempt at rolling back succeeded ticket t (the
// caller checked its state and the rollback order), writing its steps to
// the ticket's step log. An IsAfterCutover error says the rollback happened
// on the cluster and only its record did not follow: retry to finish it.
func Rollback(ctx context.Context, d Deps, t tickets.Ticket, a Attempt) error {
	steps := newStepLog(d.Pool, t.ID, tickets.StepOpRollback, a.Number, a.Log)
	steps.start("prepare")
	err := (&rollbacker{d: d}).rollback(withStepLog(ctx, steps), t)
	steps.finish()
	return err
}

// rollback puts back what the ticket's records say it kept; it renames or
// drops only databases recorded as made by this ticket.
func (w *rollbacker) rollback(ctx context.Context, t tickets.Ticket) error {
	cl, err := clusterOf(ctx, w.d, t.ProjectRef)
	if err != nil {
		return err
	}
	own := recorder{d: w.d, cl: cl, ticketID: t.ID}
	res := t.Result
	keep := w.d.Config.Worker.KeepFor
	switch {
	case t.Mode == tickets.ModeUndelete:
		return w.rollbackUndelete(ctx, cl, t) // undelete.go
	case res.KeptDatabase != "":
		// The restored database steps aside, kept in turn, and the old one
		// comes back under the live name.
		live, kept := res.TargetDatabase, res.KeptDatabase
		aside := cluster.RollbackAsideName(live, t.ID)
		asideUntil := time.Now().Add(keep)
		if err := cl.AllowConnections(ctx, live); err != nil { // a block left by a worker of before 0014
			return err
		}
		if _, err := settleCutover(ctx, w.d, cl, t.ID, tickets.CutoverRollback, "the next attempt found it open"); err != nil && !errors.Is(err, tickets.ErrNoCutover) {
			return err
		}
		keptRec, ok, err := tickets.DatabaseRecordActiveOn(ctx, w.d.Pool, cl.Name(), kept, "")
		if err != nil {
			return err
		}
		asideRec, fresh, err := tickets.DatabaseRecordClaimOn(ctx, w.d.Pool, t.ID, cl.Name(), aside, "", tickets.PurposeRollbackAside)
		if err != nil {
			return err
		}
		if !fresh && asideRec.State == tickets.RecordMade {
			// An earlier attempt swapped back already; it may have died
			// before it recorded all of it.
			return w.resumeSwapBack(ctx, t, keptRec, ok, asideRec, live)
		}
		if err := w.d.step(ctx, t.ID, StepRollbackPrepared); err != nil {
			_ = tickets.DatabaseRecordSet(context.WithoutCancel(ctx), w.d.Pool, asideRec.ID, tickets.RecordDropped, "", nil)
			return err
		}
		st, stErr := cl.State(ctx, live, kept, aside)
		if !fresh && stErr == nil && st == cluster.SwapDone && ok && keptRec.TicketID == t.ID {
			// The swap back committed before its record: record it now.
			return w.recordSwapBack(ctx, t, keptRec, asideRec, live, asideUntil)
		}
		if !ok || keptRec.TicketID != t.ID || keptRec.Purpose != tickets.PurposeKept || keptRec.State != tickets.RecordMade {
			_ = tickets.DatabaseRecordSet(context.WithoutCancel(ctx), w.d.Pool, asideRec.ID, tickets.RecordDropped, "", nil)
			return fmt.Errorf("database %s is not recorded as the kept copy made by ticket %d: it is not put live", kept, t.ID)
		}
		if stErr != nil {
			_ = tickets.DatabaseRecordSet(context.WithoutCancel(ctx), w.d.Pool, asideRec.ID, tickets.RecordDropped, "", nil)
			if fresh {
				return fmt.Errorf("%w (a database named %s that this ticket did not make is left alone)", stErr, aside)
			}
			return stErr
		}
		if err := cutover(ctx, w.d, cl, t.ID, tickets.CutoverRollback, live, kept, aside, w.rollbackStep(t.ID)); err != nil {
			return err
		}
		if err := w.d.step(ctx, t.ID, StepRollbackCutover); err != nil {
			return errAfterCutover{err}
		}
		return w.recordSwapBack(ctx, t, keptRec, asideRec, live, asideUntil)
	case len(res.KeptTables) > 0:
		return w.rollbackTables(ctx, cl, t, keep)
	case t.Mode == tickets.ModeNewProject && res.TargetDatabase != "":
		return w.rollbackNewProject(ctx, cl, own, t)
	default:
		return errors.New("the restore kept nothing to roll back to")
	}
}

// recordSwapBack records a rollback's swap: the kept copy is live again,
// the restored database is kept aside until asideUntil. Its cleanup is a
// follow-up: failing to schedule it is logged, the sweep drops it later.
func (w *rollbacker) recordSwapBack(ctx context.Context, t tickets.Ticket, kept, aside tickets.DatabaseRecord, live string, asideUntil time.Time) error {
	ctx = context.WithoutCancel(ctx)
	if err := tickets.DatabaseRecordSet(ctx, w.d.Pool, aside.ID, tickets.RecordMade, "", &asideUntil); err != nil {
		return errAfterCutover{err}
	}
	if err := tickets.DatabaseRecordSet(ctx, w.d.Pool, kept.ID, tickets.RecordDropped, live, nil); err != nil {
		return errAfterCutover{err}
	}
	return w.recordSwapBackResult(ctx, t, kept.Name, aside.Name, live, asideUntil)
}

// recordSwapBackResult writes a full rollback's outcome on its ticket and
// schedules the cleanup of the aside copy.
func (w *rollbacker) recordSwapBackResult(ctx context.Context, t tickets.Ticket, kept, aside, live string, asideUntil time.Time) error {
	ctx = context.WithoutCancel(ctx)
	if err := w.d.step(ctx, t.ID, StepRollbackRecorded); err != nil {
		return errAfterCutover{err}
	}
	if _, err := tickets.RecordRollbackKept(ctx, w.d.Pool, t.ID, aside, asideUntil, fmt.Sprintf(
		"Database %s is back as %s. The restored database, with everything written to it since the restore, is kept as %s until %s.",
		kept, live, aside, asideUntil.UTC().Format("2006-01-02 15:04 UTC"))); err != nil {
		return errAfterCutover{err}
	}
	if err := w.d.step(ctx, t.ID, StepRollbackFollowUps); err != nil {
		return errAfterCutover{err}
	}
	if err := w.d.scheduleCleanup(ctx, Cleanup{TicketID: t.ID, ProjectRef: t.ProjectRef, Database: aside}, asideUntil); err != nil {
		w.d.Log.Error("could not schedule the cleanup of the rolled-back database; the sweep drops it later", "database", aside, "err", err)
	}
	return nil
}

// resumeSwapBack finishes recording a full rollback whose swap back an
// earlier attempt committed and recorded (the aside copy is made), but which
// may have died before the kept copy's record, or the ticket, said so.
func (w *rollbacker) resumeSwapBack(ctx context.Context, t tickets.Ticket, kept tickets.DatabaseRecord, keptActive bool, aside tickets.DatabaseRecord, live string) error {
	ctx = context.WithoutCancel(ctx)
	until := time.Now().Add(w.d.Config.Worker.KeepFor)
	if aside.DropAfter != nil {
		until = *aside.DropAfter
	}
	if keptActive && kept.TicketID == t.ID && kept.Purpose == tickets.PurposeKept && kept.State == tickets.RecordMade {
		if err := tickets.DatabaseRecordSet(ctx, w.d.Pool, kept.ID, tickets.RecordDropped, live, nil); err != nil {
			return errAfterCutover{err}
		}
	}
	if t.Result.RollbackKept == aside.Name {
		return nil // the ticket says it already; its cleanup was scheduled, or the sweep drops the copy
	}
	return w.recordSwapBackResult(ctx, t, t.Result.KeptDatabase, aside.Name, live, until)
}

// rollbackStep is the test hook of a full rollback's cut-over: its block is
// the rollback's StepRollbackBlocked.
func (w *rollbacker) rollbackStep(ticketID int64) func(context.Context, Step) error {
	return func(ctx context.Context, s Step) error {
		if s == StepBlocked {
			s = StepRollbackBlocked
		}
		return w.d.step(ctx, ticketID, s)
	}
}

// rollbackNewProject removes the new project a restore made: its database,
// its registration and the owner role the restore made for it (roles.go),
// which is left, and the ticket says why, when something else on the
// cluster still depends on it. A retry after the database was dropped
// finishes the rest.
func (w *rollbacker) rollbackNewProject(ctx context.Context, cl *cluster.Cluster, own recorder, t tickets.Ticket) error {
	db := t.Result.TargetDatabase
	rec, err := own.mine(ctx, db, "", tickets.PurposeNewProject)
	if err != nil {
		if gone, gerr := droppedByTicket(ctx, w.d, t.ID, cl.Name(), db, tickets.PurposeNewProject); gerr != nil || !gone {
			return err
		}
	} else if err := own.drop(ctx, rec); err != nil {
		return err
	}
	if err := snapshots.ProjectUnregisterRestored(ctx, w.d.Pool, t.TargetRef()); err != nil {
		return err
	}
	roles, err := dropTicketRoles(ctx, w.d, cl, t.ID)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("New project %s and its database %s were removed.", t.TargetRef(), db)
	if roles != "" {
		note += " " + roles
	}
	_, err = tickets.RecordRollbackNote(context.WithoutCancel(ctx), w.d.Pool, t.ID, note)
	return err
}

// droppedByTicket tells whether the ticket's record of database name on
// clusterName says the ticket dropped it already (an earlier attempt's).
func droppedByTicket(ctx context.Context, d Deps, ticketID int64, clusterName, name, purpose string) (bool, error) {
	recs, err := tickets.DatabaseRecordsByTicket(ctx, d.Pool, ticketID)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.Cluster == clusterName && r.Name == name && r.Schema == "" && r.Purpose == purpose && r.State == tickets.RecordDropped {
			return true, nil
		}
	}
	return false, nil
}
