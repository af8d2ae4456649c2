package snapshots

import (
	"context"
	"fmt"
)

// ProjectRegisterRestored records a project created by a new-project
// restore of from, living in database db on the project cluster.
func ProjectRegisterRestored(ctx context.Context, db DB, ref, database, from string) error {
	_, err := db.Exec(ctx, `INSERT INTO projects (ref, database_name, source, restored_from) VALUES ($1, $2, 'restored', $3)`,
		ref, database, from)
	if err != nil {
		return fmt.Errorf("register restored project %s: %w", ref, err)
	}
	return nil
}

// ProjectUnregisterRestored removes a project made by a restore (its
// rollback); projects of other sources are never removed.
func ProjectUnregisterRestored(ctx context.Context, db DB, ref string) error {
	_, err := db.Exec(ctx, `DELETE FROM projects WHERE ref = $1 AND source = 'restored'`, ref)
	if err != nil {
		return fmt.Errorf("unregister restored project %s: %w", ref, err)
	}
	return nil
}
