package tickets

import (
	"context"
	"time"
)

// Snapshot is what the workflow needs to know of a snapshot in the catalog.
type Snapshot struct {
	ID         int64
	ProjectRef string
	TakenAt    time.Time
	SizeBytes  int64
	// Key and ETag name the S3 object version the catalog verified; they
	// are part of an approved plan.
	Key  string
	ETag string
	// Usable is false for corrupt, truncated or unverifiable dumps; Reason says why.
	Usable bool
	Reason string
}

// Table is one table of a snapshot's inventory.
type Table struct {
	Schema string
	Name   string
	Rows   int64
}

// QualifiedName is "schema.table", the form tickets store.
func (t Table) QualifiedName() string { return t.Schema + "." + t.Name }

// Catalog is the part of the snapshot catalog (internal/snapshots) the
// workflow uses: it resolves a requested time to a snapshot and lists a
// snapshot's tables, so a ticket only ever names tables the dump holds.
type Catalog interface {
	// SnapshotGet returns one snapshot; ErrNotFound-like errors when missing.
	SnapshotGet(ctx context.Context, id int64) (Snapshot, error)
	// SnapshotTables returns the snapshot's table inventory.
	SnapshotTables(ctx context.Context, id int64) ([]Table, error)
	// SnapshotsNear returns the snapshot a restore to time at would use (the
	// newest taken at or before at; ok false when there is none) and its
	// neighbours, newest first.
	SnapshotsNear(ctx context.Context, projectRef string, at time.Time, neighbours int) (resolved Snapshot, ok bool, near []Snapshot, err error)
}
