package tickets

import (
	"context"
	"time"

	"github.com/restoreportal/portal/internal/snapshots"
)

// SnapshotCatalog is the Catalog of the real snapshot catalog
// (internal/snapshots) on the portal's database.
func SnapshotCatalog(db snapshots.DB) Catalog { return snapshotCatalog{db: db} }

type snapshotCatalog struct {
	db  snapshots.DB
	dbs Databases // the project cluster, when known (SnapshotCatalogOn)
	// lookup finds each project's cluster (SnapshotCatalogFor).
	lookup ClusterLookup
}

func fromSnapshot(s snapshots.Snapshot) Snapshot {
	out := Snapshot{ID: s.ID, ProjectRef: s.ProjectRef, TakenAt: s.Time(), SizeBytes: s.Size, Key: s.Key, ETag: s.ETag, Usable: s.Usable() == nil}
	if err := s.Usable(); err != nil {
		out.Reason = err.Error()
	}
	return out
}

func (c snapshotCatalog) SnapshotGet(ctx context.Context, id int64) (Snapshot, error) {
	s, err := snapshots.SnapshotGet(ctx, c.db, id)
	if err != nil {
		return Snapshot{}, err
	}
	return fromSnapshot(s), nil
}

func (c snapshotCatalog) SnapshotTables(ctx context.Context, id int64) ([]Table, error) {
	ts, err := snapshots.SnapshotTables(ctx, c.db, id)
	if err != nil {
		return nil, err
	}
	out := make([]Table, len(ts))
	for i, t := range ts {
		out[i] = Table{Schema: t.Schema, Name: t.Name, Rows: t.Rows}
	}
	return out, nil
}

// SnapshotsNear resolves at with snapshots.Resolve and returns up to
// neighbours snapshots on each side of the resolved one from the project's
// timeline, corrupt and pending ones included (a page shows them disabled).
func (c snapshotCatalog) SnapshotsNear(ctx context.Context, ref string, at time.Time, neighbours int) (Snapshot, bool, []Snapshot, error) {
	res, err := snapshots.Resolve(ctx, c.db, ref, at, time.Now())
	if err != nil {
		return Snapshot{}, false, nil, err
	}
	var resolved Snapshot
	ok := res.Situation == snapshots.Resolved && res.Snapshot != nil
	if ok {
		resolved = fromSnapshot(*res.Snapshot)
	}
	if neighbours <= 0 {
		return resolved, ok, nil, nil
	}
	all, err := snapshots.SnapshotListByProject(ctx, c.db, ref, 500)
	if err != nil {
		return Snapshot{}, false, nil, err
	}
	// all is newest first; centre on the resolved one, or on the first
	// snapshot at or before at.
	idx := len(all) - 1
	for i, s := range all {
		if (ok && s.ID == resolved.ID) || (!ok && !s.Time().After(at)) {
			idx = i
			break
		}
	}
	lo, hi := max(0, idx-neighbours), min(len(all), idx+neighbours+1)
	near := make([]Snapshot, 0, hi-lo)
	for _, s := range all[max(lo, 0):max(hi, 0)] {
		near = append(near, fromSnapshot(s))
	}
	return resolved, ok, near, nil
}
