package jobs

import "context"

// The workers' own reads of the portal's database; the restore sequence's
// are in internal/runbook, River's tables and the project lock in lock.go
// and watchdog.go.

// projectDatabases maps every registered project database to its project.
func projectDatabases(ctx context.Context, d Deps) (map[string]string, error) {
	rows, err := d.Pool.Query(ctx, `SELECT database_name, ref FROM projects WHERE database_name IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var db, ref string
		if err := rows.Scan(&db, &ref); err != nil {
			return nil, err
		}
		out[db] = ref
	}
	return out, rows.Err()
}
