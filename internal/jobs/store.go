package jobs

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// The workers' own reads of the portal's database; the restore sequence's
// are in internal/runbook, River's tables and the project lock in lock.go
// and watchdog.go.

// projectDatabases maps every registered project database to its project.
func projectDatabases(ctx context.Context, d Deps) (map[string]string, error) {
	rows, err := d.Pool.Query(ctx, `SELECT database_name, ref FROM projects WHERE database_name IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	return dbx.CollectMap(rows, func(r pgx.CollectableRow) (db, ref string, err error) {
		err = r.Scan(&db, &ref)
		return db, ref, err
	})
}
