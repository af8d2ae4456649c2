package drills

import (
	"context"
	"github.com/jackc/pgx/v5"
)

// HealthOf reads the health of every project (refs nil) or of refs.
func HealthOf(ctx context.Context, db DB, refs []string) ([]ProjectHealth, error) {
	rows, err := db.Query(ctx, `
		SELECT p.ref, p.created_at, n.id, coalesce(n.key, ''), coalesce(n.taken_at, n.last_modified, n.first_seen), coalesce(n.status, ''),
		       coalesce(n.reason, ''), a.id, coalesce(a.key, ''), coalesce(a.size, 0),
		       coalesce((SELECT array_agg(e.size) FROM (SELECT size FROM snapshots s
		           WHERE s.project_ref = p.ref AND s.kind = 'automatic' AND s.deleted_at IS NULL AND s.id <> a.id
		             AND coalesce(s.taken_at, s.last_modified) < coalesce(a.taken_at, a.last_modified)
		           ORDER BY coalesce(s.taken_at, s.last_modified) DESC LIMIT $2) e), '{}')
		FROM projects p
		LEFT JOIN LATERAL (SELECT * FROM snapshots s WHERE s.project_ref = p.ref AND s.deleted_at IS NULL
		    ORDER BY coalesce(taken_at, last_modified) DESC NULLS LAST, key DESC LIMIT 1) n ON true
		LEFT JOIN LATERAL (SELECT * FROM snapshots s WHERE s.project_ref = p.ref AND s.deleted_at IS NULL AND s.kind = 'automatic'
		    ORDER BY coalesce(taken_at, last_modified) DESC NULLS LAST, key DESC LIMIT 1) a ON true
		WHERE ($1::text[] IS NULL OR p.ref = ANY($1))
		ORDER BY p.ref`, refs, SizeWindow)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProjectHealth, error) {
		var h ProjectHealth
		err := r.Scan(&h.Ref, &h.CreatedAt, &h.NewestID, &h.NewestKey, &h.NewestAt, &h.NewestStatus, &h.NewestReason,
			&h.SizedID, &h.SizedKey, &h.Size, &h.EarlierSz)
		return h, err
	})
}

// RecoveriesBefore returns the recovery times (ms) of up to RecoveryWindow
// passed drills of d's project before d.
func RecoveriesBefore(ctx context.Context, db DB, d Drill) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT recovery_ms FROM drills WHERE project_ref = $1 AND id <> $2 AND outcome = 'passed'
		AND recovery_ms IS NOT NULL AND started_at <= $3 ORDER BY started_at DESC LIMIT $4`, d.ProjectRef, d.ID, d.StartedAt, RecoveryWindow)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
