package snapshots

import (
	"context"
	"fmt"
	"time"
)

// Safety snapshots (the capture a destructive restore takes of the live
// state just before it, recorded in ticket_safety_snapshots) are manual
// snapshots with a retention of their own: PORTAL_SAFETY_KEEP_FOR after they
// were recorded they lapse, and retention deletes them from S3 and the
// catalog. A lapsed one is spared while its ticket's restore is queued or
// running (a retry reuses it) or while an open ticket restores from it.
// The queries are snapshotListSafetyLapsed and snapshotLockSafetyLapsed.

// PruneSafety deletes the safety snapshots recorded longer than keepFor
// before now (ref empty: of every project), from S3 and then from the
// catalog (the row stays, marked deleted by "safety retention").
func PruneSafety(ctx context.Context, d Deps, keepFor time.Duration, now time.Time, ref string) ([]Snapshot, error) {
	if keepFor <= 0 {
		return nil, fmt.Errorf("safety retention: keep for must be positive, not %s", keepFor)
	}
	ids, err := snapshotListSafetyLapsed(ctx, d.Pool, now.Add(-keepFor), ref)
	if err != nil {
		return nil, fmt.Errorf("lapsed safety snapshots: %w", err)
	}
	pruned, err := pruneEach(ctx, d, ids, func(id int64) (Snapshot, bool, error) { return pruneSafetyOne(ctx, d, id, now.Add(-keepFor)) })
	if len(pruned) > 0 {
		d.log().Info("retention deleted lapsed safety snapshots", "project_ref", ref, "keep_for", keepFor, "pruned", len(pruned))
	}
	return pruned, err
}

// pruneSafetyOne deletes one lapsed safety snapshot under its row lock,
// after checking again that it still lapsed and nothing took it meanwhile.
func pruneSafetyOne(ctx context.Context, d Deps, id int64, before time.Time) (Snapshot, bool, error) {
	s, ok, err := pruneLocked(ctx, d, "safety retention", snapshotLockSafetyLapsed, id, before)
	if err != nil {
		return s, false, fmt.Errorf("prune safety snapshot %d: %w", id, err)
	}
	return s, ok, nil
}
