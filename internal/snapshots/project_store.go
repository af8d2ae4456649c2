package snapshots

import (
	"context"
	"fmt"
)

// SQL of the projects a restore creates and forgets.

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

// ProjectUnregisterRestored forgets the database of a project made by a
// restore (its rollback dropped it). Projects of other sources are never
// touched. A project with snapshots in the catalog (it was captured) keeps
// its row, as a discovered project, so its snapshots stay listed.
func ProjectUnregisterRestored(ctx context.Context, db DB, ref string) error {
	_, err := db.Exec(ctx, `WITH gone AS (
			DELETE FROM projects p WHERE p.ref = $1 AND p.source = 'restored'
			  AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.project_ref = p.ref)
			RETURNING ref)
		UPDATE projects SET database_name = NULL, source = 'discovered', updated_at = now()
		WHERE ref = $1 AND source = 'restored' AND NOT EXISTS (SELECT 1 FROM gone)`, ref)
	if err != nil {
		return fmt.Errorf("unregister restored project %s: %w", ref, err)
	}
	return nil
}
