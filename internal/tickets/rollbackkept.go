package tickets

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// RecordRollbackKept records, during a rollback and before FinishRollback,
// where the rollback kept what was written since the restore (kept), until
// when, and a sentence saying how much: nothing written since the restore is
// dropped without the ticket naming its copy.
func RecordRollbackKept(ctx context.Context, db DB, id int64, kept string, until time.Time, summary string) (Ticket, error) {
	return change(ctx, db, WorkerActor, id, "restore.rollback_kept", func(tx pgx.Tx, t *Ticket) error {
		if t.Result == nil {
			t.Result = &Result{}
		}
		t.Result.RollbackKept, t.Result.RollbackKeptUntil, t.Result.RollbackSummary = kept, &until, summary
		_, err := entryInsert(ctx, tx, Entry{TicketID: t.ID, Kind: EntrySystem, Subject: "rollback", Body: summary})
		return err
	})
}
