package snapshots

import (
	"fmt"
	"time"
)

// SyncArgs asks a worker to sync the catalog with S3 (see Sync). The
// periodic job has Ref empty and Full false; the worker turns it into a full
// sync when the last one is older than FullSyncEvery. "Sync now" on a project
// page is Ref set and Full true.
type SyncArgs struct {
	Ref  string `json:"ref,omitempty"`
	Full bool   `json:"full,omitempty"`
}

// Kind is River's job kind.
func (SyncArgs) Kind() string { return "snapshot_sync" }

// VerifyArgs asks a worker to verify one snapshot. ETag makes a replaced
// object a different job, so uniqueness by args never hides a re-check.
type VerifyArgs struct {
	SnapshotID int64  `json:"snapshot_id"`
	ETag       string `json:"etag"`
}

// Kind is River's job kind.
func (VerifyArgs) Kind() string { return "snapshot_verify" }

// CaptureArgs asks a worker to capture one project's database. Day is set by
// the daily schedule (YYYY-MM-DD) so a day's capture is inserted once.
type CaptureArgs struct {
	Ref    string `json:"ref"`
	Manual bool   `json:"manual,omitempty"`
	Day    string `json:"day,omitempty"`
}

// Kind is River's job kind.
func (CaptureArgs) Kind() string { return "snapshot_capture" }

// CaptureAllArgs is the daily schedule: it enqueues a CaptureArgs for every
// registered project.
type CaptureAllArgs struct{}

// Kind is River's job kind.
func (CaptureAllArgs) Kind() string { return "snapshot_capture_all" }

// PruneArgs asks a worker to apply retention (Ref empty: every project).
type PruneArgs struct {
	Ref string `json:"ref,omitempty"`
}

// Kind is River's job kind.
func (PruneArgs) Kind() string { return "snapshot_prune" }

// FullSyncEvery is how often the periodic sync lists every key to notice
// deleted and replaced objects; the runs between are incremental.
const FullSyncEvery = 6 * time.Hour

// DailyAt is a schedule firing once a day at a UTC time "HH:MM"
// (PORTAL_CAPTURE_SCHEDULE). It satisfies River's PeriodicSchedule.
type DailyAt struct{ Hour, Minute int }

// ParseDailyAt reads "HH:MM".
func ParseDailyAt(s string) (DailyAt, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return DailyAt{}, fmt.Errorf("%q is not HH:MM", s)
	}
	return DailyAt{t.Hour(), t.Minute()}, nil
}

// Next is the first time after current at Hour:Minute UTC.
func (d DailyAt) Next(current time.Time) time.Time {
	c := current.UTC()
	n := time.Date(c.Year(), c.Month(), c.Day(), d.Hour, d.Minute, 0, 0, time.UTC)
	if !n.After(c) {
		n = n.AddDate(0, 0, 1)
	}
	return n
}
