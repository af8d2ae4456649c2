package snapshots

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Safety snapshots (the capture a destructive restore takes of the live
// state just before it, recorded in ticket_safety_snapshots) are manual
// snapshots with a retention of their own: PORTAL_SAFETY_KEEP_FOR after they
// were recorded they lapse, and retention deletes them from S3 and the
// catalog. A lapsed one is spared while its ticket's restore is queued or
// running (a retry reuses it) or while an open ticket restores from it.
const safetyCandidates = `SELECT s.id FROM ticket_safety_snapshots ss
		JOIN snapshots s ON s.id = ss.snapshot_id
		JOIN tickets t ON t.id = ss.ticket_id
	WHERE s.deleted_at IS NULL AND ss.created_at < $1 AND ($2 = '' OR s.project_ref = $2)
		AND t.state NOT IN ('queued', 'running')
		AND s.id NOT IN (SELECT snapshot_id FROM snapshot_references WHERE snapshot_id IS NOT NULL)
	ORDER BY s.id`

// PruneSafety deletes the safety snapshots recorded longer than keepFor
// before now (ref empty: of every project), from S3 and then from the
// catalog (the row stays, marked deleted by "safety retention").
func PruneSafety(ctx context.Context, d Deps, keepFor time.Duration, now time.Time, ref string) ([]Snapshot, error) {
	if keepFor <= 0 {
		return nil, fmt.Errorf("safety retention: keep for must be positive, not %s", keepFor)
	}
	rows, err := d.Pool.Query(ctx, safetyCandidates, now.Add(-keepFor), ref)
	if err != nil {
		return nil, fmt.Errorf("lapsed safety snapshots: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("lapsed safety snapshots: %w", err)
	}
	var pruned []Snapshot
	var errs []error
	refs := map[string]bool{}
	for _, id := range ids {
		s, ok, err := pruneSafetyOne(ctx, d, id, now.Add(-keepFor))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			pruned = append(pruned, s)
			refs[s.ProjectRef] = true
		}
	}
	var list []string
	for r := range refs {
		list = append(list, r)
	}
	if err := SummaryRefresh(ctx, d.Pool, list); err != nil {
		errs = append(errs, err)
	}
	if len(pruned) > 0 {
		d.log().Info("retention deleted lapsed safety snapshots", "project_ref", ref, "keep_for", keepFor, "pruned", len(pruned))
	}
	return pruned, errors.Join(errs...)
}

// pruneSafetyOne deletes one lapsed safety snapshot under its row lock,
// after checking again that it still lapsed and nothing took it meanwhile.
func pruneSafetyOne(ctx context.Context, d Deps, id int64, before time.Time) (Snapshot, bool, error) {
	s, ok, err := pruneLocked(ctx, d, "safety retention", `SELECT `+snapshotCols+` FROM snapshots WHERE id = $1 AND deleted_at IS NULL
			AND id IN (SELECT s.id FROM ticket_safety_snapshots ss JOIN snapshots s ON s.id = ss.snapshot_id JOIN tickets t ON t.id = ss.ticket_id
				WHERE ss.created_at < $2 AND t.state NOT IN ('queued', 'running'))
			AND id NOT IN (SELECT snapshot_id FROM snapshot_references WHERE snapshot_id IS NOT NULL)
			FOR UPDATE`, id, before)
	if err != nil {
		return s, false, fmt.Errorf("prune safety snapshot %d: %w", id, err)
	}
	return s, ok, nil
}
