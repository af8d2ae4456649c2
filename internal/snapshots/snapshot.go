package snapshots

import (
	"errors"
	"fmt"
	"time"

	"github.com/restoreportal/portal/internal/dbx"
)

// Status is where a snapshot stands in verification.
type Status string

const (
	StatusPending  Status = "pending"  // not verified yet
	StatusVerified Status = "verified" // complete dump, inventory stored
	StatusCorrupt  Status = "corrupt"  // refused; Reason says why
)

// Kind tells retention what it may prune.
type Kind string

const (
	// KindAutomatic snapshots come from the platform's daily job or the
	// portal's scheduled capture; retention keeps the newest N.
	KindAutomatic Kind = "automatic"
	// KindManual snapshots ("snapshot now", safety snapshots before a
	// destructive restore) are never pruned.
	KindManual Kind = "manual"
)

// MinSize is the smallest object that can hold a dump; anything shorter is
// corrupt.
const MinSize = 100

var (
	// ErrNotFound is returned when a snapshot or project does not exist.
	ErrNotFound = dbx.NotFound("not found")
	// ErrNotUsable is wrapped by Usable's error for snapshots a restore must
	// not use.
	ErrNotUsable = errors.New("snapshot not usable for a restore")
)

// Snapshot is one dump object in the catalog.
type Snapshot struct {
	ID         int64      `json:"id"`
	ProjectRef string     `json:"project_ref"`
	Key        string     `json:"key"`
	Size       int64      `json:"size"`
	ETag       string     `json:"etag"`
	TakenAt    *time.Time `json:"taken_at"` // from the key; nil when the key has no time
	// LastModified is S3's time for the object.
	LastModified      *time.Time `json:"last_modified"`
	FirstSeen         time.Time  `json:"first_seen"`
	Kind              Kind       `json:"kind"`
	Status            Status     `json:"status"`
	Reason            string     `json:"reason,omitempty"`
	VerifiedAt        *time.Time `json:"verified_at"`
	ServerVersion     string     `json:"server_version,omitempty"`
	DumpVersion       string     `json:"dump_version,omitempty"`
	Entries           int        `json:"entries"`
	UncompressedBytes int64      `json:"uncompressed_bytes"`
	DeletedAt         *time.Time `json:"deleted_at,omitempty"`
	DeletedReason     string     `json:"deleted_reason,omitempty"`
}

// Time is the snapshot's point in time: the time in its key, else S3's
// last-modified time. Resolution uses the key time only.
func (s Snapshot) Time() time.Time {
	if s.TakenAt != nil {
		return *s.TakenAt
	}
	if s.LastModified != nil {
		return *s.LastModified
	}
	return time.Time{}
}

// Usable returns nil when a restore may use s: verified and still in S3.
// Corrupt and pending snapshots can never be chosen.
func (s Snapshot) Usable() error {
	switch {
	case s.DeletedAt != nil:
		return fmt.Errorf("%w: snapshot %d was deleted (%s)", ErrNotUsable, s.ID, s.DeletedReason)
	case s.Status == StatusCorrupt:
		return fmt.Errorf("%w: snapshot %d is corrupt: %s", ErrNotUsable, s.ID, s.Reason)
	case s.Status != StatusVerified:
		return fmt.Errorf("%w: snapshot %d is not verified yet", ErrNotUsable, s.ID)
	}
	return nil
}

// Table is one table of a verified snapshot's inventory.
type Table struct {
	Schema  string `json:"schema"`
	Name    string `json:"name"`
	Rows    int64  `json:"rows"`
	Bytes   int64  `json:"bytes"`
	HasData bool   `json:"has_data"`
}

// ProjectSummary is one line of the projects list.
type ProjectSummary struct {
	Ref           string     `json:"ref"`
	Source        string     `json:"source"`
	DatabaseName  string     `json:"database_name,omitempty"`
	SnapshotCount int        `json:"snapshot_count"`
	VerifiedCount int        `json:"verified_count"`
	CorruptCount  int        `json:"corrupt_count"`
	PendingCount  int        `json:"pending_count"`
	TotalBytes    int64      `json:"total_bytes"`
	NewestID      *int64     `json:"newest_id"`
	NewestAt      *time.Time `json:"newest_at"`
	NewestStatus  Status     `json:"newest_status,omitempty"`
	Warnings      []string   `json:"warnings"`
}

// StaleAfter is how old the newest snapshot may be before a project is
// flagged.
const StaleAfter = 36 * time.Hour

// computeWarnings fills Warnings as of now.
func (p *ProjectSummary) computeWarnings(now time.Time) {
	p.Warnings = []string{}
	switch {
	case p.NewestAt == nil:
		p.Warnings = append(p.Warnings, "no snapshot")
	case now.Sub(*p.NewestAt) > StaleAfter:
		p.Warnings = append(p.Warnings, "no snapshot in 36 hours")
	}
	if p.NewestStatus == StatusCorrupt {
		p.Warnings = append(p.Warnings, "latest snapshot corrupt")
	}
}

// Project is one project as the catalog knows it.
type Project struct {
	Ref          string `json:"ref"`
	Source       string `json:"source"`
	DatabaseName string `json:"database_name,omitempty"`
	RestoredFrom string `json:"restored_from,omitempty"`
	// Cluster names the project cluster holding DatabaseName ("default":
	// PORTAL_PROJECTS_ADMIN_URL). OwnerRole owns the database; restores run the
	// dump as it. Empty means the database's current owner (if unprivileged).
	Cluster   string `json:"cluster"`
	OwnerRole string `json:"owner_role,omitempty"`
}
