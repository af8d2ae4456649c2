package tickets

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// NewerRestoreError refuses the rollback of a destructive restore while a
// newer destructive restore of the same project stands: rolling the older
// one back would put back a state from before the newer restore and silently
// undo it (and, for a full restore, its kept copy names a database the newer
// one already renamed). The newer one is rolled back first.
type NewerRestoreError struct {
	TicketID int64 // the newer restore
}

func (e *NewerRestoreError) Error() string {
	return fmt.Sprintf("ticket #%d restored this project after this one and was not rolled back: roll back ticket #%d first", e.TicketID, e.TicketID)
}

// NewerRestore returns the newest destructive restore of t's project that
// finished after t and stands (succeeded, not rolled back); ok false when
// there is none, or when t is not a destructive restore (a new-project
// restore never changed the live project).
func NewerRestore(ctx context.Context, db DB, t Ticket) (id int64, ok bool, err error) {
	if t.Mode != ModeDestructive || t.Result == nil || t.Result.FinishedAt.IsZero() {
		return 0, false, nil
	}
	id, err = ticketNewestStandingRestore(ctx, db, t.ProjectRef, t.ID, t.Result.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("newer restores of %s: %w", t.ProjectRef, err)
	}
	return id, true, nil
}

// CheckRollbackOrder is NewerRestore as an error (*NewerRestoreError), for
// the request and for the worker at the start of a rollback.
func CheckRollbackOrder(ctx context.Context, db DB, t Ticket) error {
	id, ok, err := NewerRestore(ctx, db, t)
	if err != nil {
		return err
	}
	if ok {
		return &NewerRestoreError{TicketID: id}
	}
	return nil
}
