package tickets

import (
	"context"
	"fmt"
	"github.com/jackc/pgx/v5"
)

// StepStart records that step of attempt began and returns its id.
func StepStart(ctx context.Context, db DB, ticketID int64, op string, attempt int, step string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO ticket_steps (ticket_id, op, attempt, step) VALUES ($1, $2, $3, $4) RETURNING id`,
		ticketID, op, attempt, step).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record step %s of ticket %d: %w", step, ticketID, err)
	}
	return id, nil
}

// StepFinish records that step id ended, with what it made: names, plus
// every database or schema the ticket's records say was made while it ran,
// and bytes (nil: unknown).
func StepFinish(ctx context.Context, db DB, id int64, names []string, bytes *int64) error {
	tag, err := db.Exec(ctx, `UPDATE ticket_steps s SET finished_at = greatest(now(), s.started_at), bytes = $3,
			names = $2::text[] || ARRAY(SELECT d.name || CASE WHEN d.schema <> '' THEN '.' || d.schema ELSE '' END
				FROM ticket_databases d WHERE d.ticket_id = s.ticket_id AND d.made_at >= s.started_at ORDER BY d.id)
		WHERE id = $1 AND finished_at IS NULL`, id, append([]string{}, names...), bytes)
	if err != nil {
		return fmt.Errorf("record the end of step %d: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("step %d: not recorded, or ended already", id)
	}
	return nil
}

// StepsOf lists a ticket's steps, oldest first.
func StepsOf(ctx context.Context, db DB, ticketID int64) ([]StepLog, error) {
	rows, err := db.Query(ctx, `SELECT id, ticket_id, op, attempt, step, started_at, finished_at, names, bytes
		FROM ticket_steps WHERE ticket_id = $1 ORDER BY id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("steps of ticket %d: %w", ticketID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StepLog, error) {
		var s StepLog
		return s, r.Scan(&s.ID, &s.TicketID, &s.Op, &s.Attempt, &s.Step, &s.StartedAt, &s.FinishedAt, &s.Names, &s.Bytes)
	})
}
