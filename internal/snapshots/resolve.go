package snapshots

import (
	"context"
	"fmt"
	"time"
)

// Situation classifies the answer to "which snapshot for this time".
type Situation string

const (
	// Resolved: Snapshot is the latest verified snapshot at or before At.
	Resolved Situation = "resolved"
	// BeforeFirst: At is earlier than the project's first verified snapshot;
	// Next is that first snapshot.
	BeforeFirst Situation = "before_first"
	// InFuture: At is later than now; Previous is the latest verified snapshot.
	InFuture Situation = "future"
	// NoSnapshot: the project has no verified snapshot with a time at all.
	NoSnapshot Situation = "none"
)

// Resolution answers "which snapshot holds the state of ref at At".
type Resolution struct {
	Ref       string    `json:"ref"`
	At        time.Time `json:"at"`
	Situation Situation `json:"situation"`
	// Snapshot is the chosen one (Resolved only).
	Snapshot *Snapshot `json:"snapshot"`
	// Previous is the verified snapshot before the chosen one (or the latest
	// one, when At is in the future); Next the first verified one after At.
	Previous *Snapshot `json:"previous"`
	Next     *Snapshot `json:"next"`
	// Skipped are snapshots closer to At than the chosen one that cannot be
	// used (corrupt or pending), so a person sees why an older one was chosen.
	Skipped []Snapshot `json:"skipped"`
	// Message says the answer in one sentence.
	Message string `json:"message"`
}

// Resolve finds the latest verified snapshot of ref taken at or before at
// (any time zone), with its neighbours. Only snapshots whose key carries a
// time take part: S3's last-modified time is not the time of the data.
// now is the current time (time.Now in production).
func Resolve(ctx context.Context, db DB, ref string, at, now time.Time) (Resolution, error) {
	if _, err := ProjectGet(ctx, db, ref); err != nil {
		return Resolution{}, err
	}
	r := Resolution{Ref: ref, At: at, Skipped: []Snapshot{}}
	var err error
	if at.After(now) {
		r.Situation = InFuture
		if r.Previous, err = snapshotVerifiedLatest(ctx, db, ref); err != nil {
			return r, err
		}
		r.Message = fmt.Sprintf("%s is in the future", fmtTime(at))
		if r.Previous != nil {
			r.Message += fmt.Sprintf("; the latest verified snapshot is from %s", fmtTime(*r.Previous.TakenAt))
		}
		return r, nil
	}
	if r.Snapshot, err = snapshotVerifiedAtOrBefore(ctx, db, ref, at); err != nil {
		return r, err
	}
	if r.Next, err = snapshotVerifiedAfter(ctx, db, ref, at); err != nil {
		return r, err
	}
	skippedAfter := time.Time{}
	if r.Snapshot != nil {
		skippedAfter = *r.Snapshot.TakenAt
		if r.Previous, err = snapshotVerifiedBefore(ctx, db, ref, *r.Snapshot.TakenAt, r.Snapshot.Key); err != nil {
			return r, err
		}
	}
	skipped, err := snapshotListUnverifiedBetween(ctx, db, ref, at, skippedAfter)
	if err != nil {
		return r, err
	}
	r.Skipped = append(r.Skipped, skipped...)
	switch {
	case r.Snapshot != nil:
		r.Situation = Resolved
		r.Message = fmt.Sprintf("snapshot %d from %s, %s before %s", r.Snapshot.ID, fmtTime(*r.Snapshot.TakenAt),
			roundDuration(at.Sub(*r.Snapshot.TakenAt)), fmtTime(at))
		if len(skipped) > 0 {
			r.Message += fmt.Sprintf(" (%d newer snapshot(s) skipped: %s is %s)", len(skipped),
				fmtTime(*skipped[0].TakenAt), skipped[0].Status)
		}
	case r.Next != nil:
		r.Situation = BeforeFirst
		r.Message = fmt.Sprintf("%s is before the first verified snapshot, from %s", fmtTime(at), fmtTime(*r.Next.TakenAt))
	default:
		r.Situation = NoSnapshot
		r.Message = "the project has no verified snapshot"
	}
	return r, nil
}

func fmtTime(t time.Time) string {
	if _, offset := t.Zone(); offset == 0 {
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 -07:00") + " (" + t.UTC().Format("15:04 UTC") + ")"
}

func roundDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

// timeLayouts are what ParseTime accepts besides RFC 3339.
var timeLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

// ParseTime reads a time a person typed: RFC 3339 with its offset, or a
// date and time without one, taken in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2026-05-03T14:00:00+02:00 or 2026-05-03 14:00", s)
}
