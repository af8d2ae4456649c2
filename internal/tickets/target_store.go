package tickets

import "context"

// portalDatabase is the name of the portal's own database.
func portalDatabase(ctx context.Context, db DB) (string, error) {
	var name string
	err := db.QueryRow(ctx, `SELECT current_database()`).Scan(&name)
	return name, err
}

// projectOwning returns project ref if it exists, else the project whose
// database is name; pgx.ErrNoRows when neither does.
func projectOwning(ctx context.Context, db DB, ref, name string) (string, error) {
	var owner string
	err := db.QueryRow(ctx, `SELECT ref FROM projects WHERE ref = $1 OR database_name = $2 ORDER BY ref = $1 DESC LIMIT 1`, ref, name).Scan(&owner)
	return owner, err
}

// projectDatabaseName returns project ref's registered database (nil: none
// registered); pgx.ErrNoRows for an unknown project.
func projectDatabaseName(ctx context.Context, db DB, ref string) (*string, error) {
	var live *string
	err := db.QueryRow(ctx, `SELECT database_name FROM projects WHERE ref = $1`, ref).Scan(&live)
	return live, err
}
