package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The restore worker's side of a ticket. A restore job (RestoreArgs) calls,
// in order: MarkRunning, then UpdateProgress as often as it likes, then Finish
// exactly once. A rollback job (RollbackArgs) calls FinishRollback.

// PhaseCutover is the progress phase of the short, uncancellable step that
// changes the live database (the rename, or the one-transaction table swap).
// A worker writes it with UpdateProgress before it starts that step.
const PhaseCutover = "cut-over"

// WorkerActor is how the restore workers appear in the audit trail.
var WorkerActor = SystemActor("worker")

// ErrNotRunning is returned by UpdateProgress when the ticket is no longer
// running (cancelled, or finished by another attempt): the worker should stop.
var ErrNotRunning = errors.New("ticket is not running")

// MarkRunning moves a queued ticket to running when its job starts. A
// *TransitionError means the ticket was cancelled meanwhile (or already ran):
// the job must stop without touching anything.
func MarkRunning(ctx context.Context, db DB, id, jobID int64) (Ticket, error) {
	return change(ctx, db, WorkerActor, id, "restore.started", func(tx pgx.Tx, t *Ticket) error {
		if t.JobID != 0 && jobID != 0 && t.JobID != jobID {
			return fmt.Errorf("ticket %d belongs to job %d, not %d: %w", id, t.JobID, jobID, ErrConflict)
		}
		if err := moveTo(t, StateRunning); err != nil {
			return err
		}
		t.Progress = &Progress{Phase: "starting", UpdatedAt: time.Now()}
		return nil
	})
}

// UpdateProgress records a running restore's progress (no audit event: it is
// frequent and says nothing about who). It returns ErrNotRunning once the
// ticket has left the running state.
func UpdateProgress(ctx context.Context, db DB, id int64, p Progress) error {
	p.UpdatedAt = time.Now()
	p.Percent = min(max(p.Percent, 0), 100)
	ok, err := ticketSetProgress(ctx, db, id, p)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("ticket %d: %w", id, ErrNotRunning)
	}
	return nil
}

// Finish records how a restore ended: succeeded when r.OK, else failed with
// r.Message as the reason. A job refused before it started (a corrupt dump
// found before MarkRunning) may finish a queued ticket as failed.
func Finish(ctx context.Context, db DB, id int64, r Result) (Ticket, error) {
	to, action := StateSucceeded, "restore.succeeded"
	if !r.OK {
		to, action = StateFailed, "restore.failed"
	}
	r.FinishedAt = time.Now()
	return change(ctx, db, WorkerActor, id, action, func(tx pgx.Tx, t *Ticket) error {
		if err := moveTo(t, to); err != nil {
			return err
		}
		p := Progress{Phase: "failed", UpdatedAt: time.Now()}
		if t.Progress != nil {
			p = *t.Progress
			p.UpdatedAt = time.Now()
		}
		if r.OK {
			p.Phase, p.Percent, p.CurrentTable = "done", 100, ""
		} else {
			p.Phase = "failed"
		}
		p.Message = r.Message
		t.Progress, t.Result = &p, &r
		body := "Restore succeeded. " + r.Message
		if !r.OK {
			body = "Restore failed: " + r.Message
		}
		_, err := entryInsert(ctx, tx, Entry{TicketID: t.ID, Kind: EntrySystem, Subject: to.Label(), Body: body})
		return err
	})
}

// FinishRollback records the end of a rollback job: with err nil the ticket
// becomes rolled_back; otherwise it stays succeeded with the reason, and a
// new rollback may be requested.
func FinishRollback(ctx context.Context, db DB, id int64, rollbackErr error) (Ticket, error) {
	action := "restore.rolled_back"
	if rollbackErr != nil {
		action = "restore.rollback_failed"
	}
	return change(ctx, db, WorkerActor, id, action, func(tx pgx.Tx, t *Ticket) error {
		if t.Result == nil {
			t.Result = &Result{}
		}
		body := "Rolled back: the project is as it was before the restore."
		if rollbackErr != nil {
			t.Result.RollbackError = rollbackErr.Error()
			t.RollbackJobID = 0
			body = "Rollback failed: " + rollbackErr.Error()
		} else {
			if err := moveTo(t, StateRolledBack); err != nil {
				return err
			}
			now := time.Now()
			t.Result.RolledBackAt = &now
		}
		_, err := entryInsert(ctx, tx, Entry{TicketID: t.ID, Kind: EntrySystem, Subject: "rollback", Body: body})
		return err
	})
}
