package tickets

import (
	"context"
	"time"
)

// ticketNewestStandingRestore returns the newest destructive restore of ref
// other than ticket id that finished after after and stands (succeeded, not
// rolled back); pgx.ErrNoRows when there is none.
func ticketNewestStandingRestore(ctx context.Context, db DB, ref string, id int64, after time.Time) (int64, error) {
	var newer int64
	err := db.QueryRow(ctx, `SELECT id FROM tickets
		WHERE project_ref = $1 AND id <> $2 AND mode = 'destructive' AND state = 'succeeded'
		  AND (result->>'ok')::boolean AND result->>'rolled_back_at' IS NULL
		  AND (result->>'finished_at')::timestamptz > $3
		ORDER BY (result->>'finished_at')::timestamptz DESC LIMIT 1`, ref, id, after).Scan(&newer)
	return newer, err
}

// tableSwapRestoreGet reads the restore's table swap record of ticket id:
// the live database, the tables, the swap's state, the transaction id it
// committed in and the row counts after it; pgx.ErrNoRows when there is none.
func tableSwapRestoreGet(ctx context.Context, db DB, id int64) (live string, tables []string, state string, xid *int64, after map[string]int64, err error) {
	err = db.QueryRow(ctx, `SELECT live_database, tables, state, xid, coalesce(after_rows, '{}') FROM ticket_table_swaps
		WHERE ticket_id = $1 AND op = 'restore'`, id).Scan(&live, &tables, &state, &xid, &after)
	return live, tables, state, xid, after, err
}
