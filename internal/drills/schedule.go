package drills

import (
	"context"
	"hash/fnv"
	"time"
)

// ScheduleInterval is how often the schedule job looks for due drills.
const ScheduleInterval = time.Hour

// Offset is where in each period of length every project ref's drills fall:
// a hash of the ref, so a week's drills spread evenly and each project keeps
// its hour.
func Offset(ref string, every time.Duration) time.Duration {
	if every <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte("drill:" + ref))
	return time.Duration(h.Sum64() % uint64(every))
}

// LastSlot is ref's most recent scheduled drill time at or before now.
func LastSlot(ref string, every time.Duration, now time.Time) time.Time {
	if every <= 0 {
		return now
	}
	off := int64(Offset(ref, every))
	n := now.UnixNano() - off
	k := n / int64(every)
	if n < 0 && n%int64(every) != 0 {
		k--
	}
	return time.Unix(0, k*int64(every)+off)
}

// IsDue says whether a project whose last drill started at last (nil: never)
// is due at now. A drilled project is due once its slot passed since its last
// drill (so a drill missed while no worker ran is caught up); one never
// drilled waits for its first slot, so a new deployment does not drill every
// project at once.
func IsDue(ref string, every time.Duration, last *time.Time, now time.Time) bool {
	slot := LastSlot(ref, every, now)
	if last == nil {
		return now.Sub(slot) < 2*ScheduleInterval
	}
	return last.Before(slot)
}

// Due lists the projects with a verified snapshot whose drill is due at now.
func Due(ctx context.Context, db DB, every time.Duration, now time.Time) ([]string, error) {
	last, err := drillLastByProject(ctx, db)
	if err != nil {
		return nil, err
	}
	var due []string
	for _, p := range last {
		if IsDue(p.ref, every, p.last, now) {
			due = append(due, p.ref)
		}
	}
	return due, nil
}
