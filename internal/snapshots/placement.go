package snapshots

import (
	"context"
	"fmt"
)

// ProjectPlacement is where a registered project lives: which project
// cluster, which database there, and which role owns it.
type ProjectPlacement struct {
	Ref       string
	Cluster   string
	Database  string
	OwnerRole string // empty: the database's current owner, read at restore start
}

// ProjectRegister records ref as a registered project placed as p, or moves
// an existing project there. Callers validate p against the cluster first
// (cmd/portal `project add`, POST /api/v1/projects).
func ProjectRegister(ctx context.Context, db DB, p ProjectPlacement) (Project, error) {
	var out Project
	err := db.QueryRow(ctx, `INSERT INTO projects (ref, database_name, source, cluster, owner_role)
		VALUES ($1, $2, 'registered', $3, nullif($4, ''))
		ON CONFLICT (ref) DO UPDATE SET database_name = EXCLUDED.database_name, source = 'registered',
			cluster = EXCLUDED.cluster, owner_role = EXCLUDED.owner_role, updated_at = now()
		RETURNING ref, source, database_name, coalesce(restored_from, ''), cluster, coalesce(owner_role, '')`,
		p.Ref, p.Database, p.Cluster, p.OwnerRole).Scan(&out.Ref, &out.Source, &out.DatabaseName, &out.RestoredFrom, &out.Cluster, &out.OwnerRole)
	if err != nil {
		return Project{}, fmt.Errorf("register project %s: %w", p.Ref, err)
	}
	return out, nil
}

// ProjectSetPlacement records the cluster and owner role of an existing
// project (a new-project restore's, once registered).
func ProjectSetPlacement(ctx context.Context, db DB, ref, cluster, ownerRole string) error {
	tag, err := db.Exec(ctx, `UPDATE projects SET cluster = $2, owner_role = nullif($3, ''), updated_at = now() WHERE ref = $1`,
		ref, cluster, ownerRole)
	if err != nil {
		return fmt.Errorf("record where project %s lives: %w", ref, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("project %s: %w", ref, ErrNotFound)
	}
	return nil
}
