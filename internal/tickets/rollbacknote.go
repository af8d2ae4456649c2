package tickets

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// RecordRollbackNote records, during a rollback and before FinishRollback, a
// sentence about what the rollback removed or left (a new project's owner
// role that something else still depends on) as the rollback's summary and
// a system entry in the thread.
func RecordRollbackNote(ctx context.Context, db DB, id int64, summary string) (Ticket, error) {
	return recordRollbackSummary(ctx, db, id, "restore.rollback_note", summary)
}

// recordRollbackSummary sets the ticket's rollback summary and says it in a
// system entry of the thread, audited as action.
func recordRollbackSummary(ctx context.Context, db DB, id int64, action, summary string) (Ticket, error) {
	return change(ctx, db, WorkerActor, id, action, func(tx pgx.Tx, t *Ticket) error {
		if t.Result == nil {
			t.Result = &Result{}
		}
		t.Result.RollbackSummary = summary
		_, err := entryInsert(ctx, tx, Entry{TicketID: t.ID, Kind: EntrySystem, Subject: "rollback", Body: summary})
		return err
	})
}
