package snapshots

import (
	"context"
	"errors"
	"testing"
	"time"
)

// insertSnapshot adds a catalog row directly (no S3), for pure catalog tests.
func insertSnapshot(t *testing.T, db DB, ref, key string, taken *time.Time, status Status, kind Kind) int64 {
	t.Helper()
	ctx := context.Background()
	if err := ProjectEnsure(ctx, db, []string{ref}); err != nil {
		t.Fatal(err)
	}
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO snapshots (project_ref, key, size, etag, taken_at, last_modified, status, kind)
		VALUES ($1, $2, 1000, 'e', $3, coalesce($3, now()), $4, $5) RETURNING id`, ref, key, taken, status, kind).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	if err := SummaryRefresh(ctx, db, []string{ref}); err != nil {
		t.Fatal(err)
	}
	return id
}

func day(d int) time.Time { return time.Date(2026, 5, d, 2, 0, 0, 0, time.UTC) }

func TestResolve(t *testing.T) {
	t.Parallel()
	pool := newDeps(t).Pool
	ctx := context.Background()
	ids := map[int]int64{}
	statuses := map[int]Status{1: StatusVerified, 2: StatusVerified, 3: StatusVerified, 4: StatusCorrupt, 5: StatusPending}
	for d := 1; d <= 5; d++ {
		at := day(d)
		ids[d] = insertSnapshot(t, pool, "proj-r", KeyFor("daily", "proj-r", at), &at, statuses[d], KindAutomatic)
	}
	insertSnapshot(t, pool, "proj-r", "daily/proj-r/latest.sql.gz", nil, StatusVerified, KindAutomatic)
	insertSnapshot(t, pool, "proj-bad", "daily/proj-bad/x.sql.gz", ptr(day(1)), StatusCorrupt, KindAutomatic)
	now := time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)
	paris := time.FixedZone("+02:00", 2*3600)

	tests := []struct {
		name      string
		ref       string
		at        time.Time
		situation Situation
		snapshot  int // day of the chosen snapshot, 0 none
		previous  int
		next      int
		skipped   int
	}{
		{"between, other zone", "proj-r", time.Date(2026, 5, 3, 10, 0, 0, 0, paris), Resolved, 3, 2, 0, 0},
		{"exactly at, other zone", "proj-r", time.Date(2026, 5, 2, 4, 0, 0, 0, paris), Resolved, 2, 1, 3, 0},
		{"one second before", "proj-r", day(2).Add(-time.Second), Resolved, 1, 0, 2, 0},
		{"newest corrupt and pending skipped", "proj-r", time.Date(2026, 5, 5, 12, 0, 0, 0, time.UTC), Resolved, 3, 2, 0, 2},
		{"before the first", "proj-r", time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC), BeforeFirst, 0, 0, 1, 0},
		{"in the future", "proj-r", now.Add(time.Hour), InFuture, 0, 3, 0, 0},
		{"only corrupt", "proj-bad", now, NoSnapshot, 0, 0, 0, 1},
	}
	dayOf := func(s *Snapshot) int {
		if s == nil {
			return 0
		}
		for d, id := range ids {
			if id == s.ID {
				return d
			}
		}
		return -1
	}
	for _, tt := range tests {
		r, err := Resolve(ctx, pool, tt.ref, tt.at, now)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if r.Situation != tt.situation || dayOf(r.Snapshot) != tt.snapshot || dayOf(r.Previous) != tt.previous ||
			dayOf(r.Next) != tt.next || len(r.Skipped) != tt.skipped {
			t.Errorf("%s: got %s snapshot day %d previous %d next %d skipped %d (%s)", tt.name, r.Situation,
				dayOf(r.Snapshot), dayOf(r.Previous), dayOf(r.Next), len(r.Skipped), r.Message)
		}
		if r.Message == "" {
			t.Errorf("%s: no message", tt.name)
		}
	}
	if _, err := Resolve(ctx, pool, "nobody", now, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown project: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestParseTime(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CEST", 2*3600)
	want := time.Date(2026, 5, 3, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"2026-05-03T14:00:00+02:00", "2026-05-03T12:00:00Z", "2026-05-03 14:00", "2026-05-03T14:00"} {
		got, err := ParseTime(s, paris)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseTime("yesterday", paris); err == nil {
		t.Error("ParseTime(yesterday) succeeded")
	}
}

func TestGetUsable(t *testing.T) {
	t.Parallel()
	pool := newDeps(t).Pool
	ctx := context.Background()
	good := insertSnapshot(t, pool, "proj-u", "daily/proj-u/a.sql.gz", ptr(day(1)), StatusVerified, KindAutomatic)
	bad := insertSnapshot(t, pool, "proj-u", "daily/proj-u/b.sql.gz", ptr(day(2)), StatusCorrupt, KindAutomatic)
	pending := insertSnapshot(t, pool, "proj-u", "daily/proj-u/c.sql.gz", ptr(day(3)), StatusPending, KindAutomatic)
	if _, err := GetUsable(ctx, pool, good); err != nil {
		t.Errorf("verified: %v", err)
	}
	for _, id := range []int64{bad, pending} {
		if _, err := GetUsable(ctx, pool, id); !errors.Is(err, ErrNotUsable) {
			t.Errorf("snapshot %d: %v, want ErrNotUsable", id, err)
		}
	}
	if _, err := GetUsable(ctx, pool, 424242); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
}
