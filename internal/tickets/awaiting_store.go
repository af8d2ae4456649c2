package tickets

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AwaitingIDs lists the tickets awaiting approval as OverviewGet's Awaiting
// does (newest first, at most limit): the live stream of the dashboard sends
// them, so a ticket submitted elsewhere shows in its approvals list without
// a reload.
func AwaitingIDs(ctx context.Context, db DB, limit int) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT id FROM tickets WHERE state = 'awaiting_approval' ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("tickets awaiting approval: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if ids == nil {
		ids = []int64{}
	}
	return ids, err
}
