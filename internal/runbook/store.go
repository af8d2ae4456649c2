package runbook

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/tickets"
)

// The sequence's other reads of the portal's database; its records are in
// tableswap_store.go, undelete_store.go and the tickets package.

// postmasterStart is when the portal's database server started.
func postmasterStart(ctx context.Context, db tickets.DB) (time.Time, error) {
	var t time.Time
	err := db.QueryRow(ctx, `SELECT pg_postmaster_start_time()`).Scan(&t)
	return t, err
}

// snapshotKeySize reads a catalog snapshot's object key and size, in the
// transaction that adds it.
func snapshotKeySize(ctx context.Context, tx pgx.Tx, id int64) (key string, size int64, err error) {
	err = tx.QueryRow(ctx, `SELECT key, size FROM snapshots WHERE id = $1`, id).Scan(&key, &size)
	return key, size, err
}
