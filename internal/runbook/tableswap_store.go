package runbook

// The record of a table swap in the portal (ticket_table_swaps).

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/tickets"
)

func tableSwapGet(ctx context.Context, db tickets.DB, ticket int64, op string) (tableSwap, error) {
	var s tableSwap
	err := db.QueryRow(ctx, `SELECT ticket_id, op, live_database, keep_database, keep_schema, tables, state, xid,
			coalesce(before_rows, '{}'), coalesce(after_rows, '{}'), kept_until
		FROM ticket_table_swaps WHERE ticket_id = $1 AND op = $2`, ticket, op).
		Scan(&s.TicketID, &s.Op, &s.LiveDatabase, &s.KeepDatabase, &s.KeepSchema, &s.Tables, &s.State, &s.XID, &s.Before, &s.After, &s.KeptUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, errNoSwap
	}
	if err != nil {
		return s, fmt.Errorf("table swap of ticket %d: %w", ticket, err)
	}
	return s, nil
}

// tableSwapPrepare records a swap about to start (again, for a retry of one
// that did not commit).
func tableSwapPrepare(ctx context.Context, db tickets.DB, s tableSwap) error {
	tag, err := db.Exec(ctx, `INSERT INTO ticket_table_swaps (ticket_id, op, live_database, keep_database, keep_schema, tables, kept_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (ticket_id, op) DO UPDATE SET live_database = excluded.live_database, keep_database = excluded.keep_database,
			keep_schema = excluded.keep_schema, tables = excluded.tables, kept_until = excluded.kept_until,
			state = 'prepared', xid = NULL, before_rows = NULL, after_rows = NULL, created_at = now()
		WHERE ticket_table_swaps.state <> 'committed'`,
		s.TicketID, s.Op, s.LiveDatabase, s.KeepDatabase, s.KeepSchema, s.Tables, s.KeptUntil)
	if err != nil {
		return fmt.Errorf("record the table swap of ticket %d: %w", s.TicketID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("the table swap (%s) of ticket %d is recorded as committed already", s.Op, s.TicketID)
	}
	return nil
}

func tableSwapCommitting(ctx context.Context, db tickets.DB, ticket int64, op string, xid uint64, before, after map[string]int64) error {
	_, err := db.Exec(ctx, `UPDATE ticket_table_swaps SET state = 'committing', xid = $3, before_rows = $4, after_rows = $5
		WHERE ticket_id = $1 AND op = $2 AND state = 'prepared'`, ticket, op, int64(xid), before, after)
	return err
}

func tableSwapCommitted(ctx context.Context, db tickets.DB, ticket int64, op string) error {
	_, err := db.Exec(ctx, `UPDATE ticket_table_swaps SET state = 'committed', committed_at = now()
		WHERE ticket_id = $1 AND op = $2 AND state = 'committing'`, ticket, op)
	return err
}
