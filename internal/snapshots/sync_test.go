package snapshots

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestSyncDiscoversIncrementsAndNoticesDeletions(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	body := gz(dumpSQL)
	for _, k := range []string{
		"daily/proj-a/20260501T020000Z.sql.gz",
		"daily/proj-a/2026-05-02T02:00:00Z.sql.gz",
		"daily/proj-a/latest.sql.gz", // no time: kept, shown as such
		"daily/proj-b/1777773600.sql.gz",
		"daily/proj-b/20260504020000.sql.gz",
		"daily/Bad_Ref/20260501T020000Z.sql.gz", // not a project ref
		"daily/loose.sql.gz",                    // not under a project
		"other/proj-c/20260501T020000Z.sql.gz",  // outside the prefix
	} {
		putObject(t, d, k, body)
	}
	var verified []ToVerify
	onChanged := func(_ context.Context, _ pgx.Tx, s []ToVerify) error { verified = append(verified, s...); return nil }

	res := mustSync(t, d, SyncOptions{OnChanged: onChanged})
	if res.Added != 5 || res.Projects != 2 {
		t.Fatalf("first sync = %+v, want 5 added in 2 projects", res)
	}
	if len(verified) != 5 {
		t.Errorf("OnChanged got %d snapshots, want 5", len(verified))
	}
	list, err := SnapshotListByProject(ctx, d.Pool, "proj-a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("proj-a has %d snapshots, want 3", len(list))
	}
	// Newest first; the key without a time sorts by S3's time (now), so first.
	if list[0].Key != "daily/proj-a/latest.sql.gz" || list[0].TakenAt != nil {
		t.Errorf("first = %s taken %v", list[0].Key, list[0].TakenAt)
	}
	if list[1].TakenAt == nil || !list[1].TakenAt.Equal(time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("second = %s taken %v", list[1].Key, list[1].TakenAt)
	}
	for _, s := range list {
		if s.Status != StatusPending || s.Size != int64(len(body)) || s.ETag == "" || s.Kind != KindAutomatic {
			t.Errorf("snapshot %+v", s)
		}
	}
	p, err := ProjectGet(ctx, d.Pool, "proj-b")
	if err != nil || p.Source != "discovered" {
		t.Fatalf("proj-b = %+v, %v", p, err)
	}

	// Nothing new: an incremental sync writes nothing.
	verified = nil
	res = mustSync(t, d, SyncOptions{OnChanged: onChanged})
	if res.Added != 0 || res.Changed != 0 || len(verified) != 0 {
		t.Fatalf("idle sync = %+v", res)
	}
	// proj-a lists latest.sql.gz again (it sorts after the newest timed key), proj-b nothing.
	if res.Listed != 1 {
		t.Errorf("idle incremental listed %d objects, want 1", res.Listed)
	}

	// A new snapshot and a new project appear.
	putObject(t, d, "daily/proj-a/20260503T020000Z.sql.gz", body)
	putObject(t, d, "daily/proj-new/20260503T020000Z.sql.gz", body)
	res = mustSync(t, d, SyncOptions{OnChanged: onChanged})
	if res.Added != 2 || len(verified) != 2 {
		t.Fatalf("incremental sync = %+v, verify %v", res, verified)
	}
	sum, err := ProjectSummaryGet(ctx, d.Pool, "proj-a", time.Date(2026, 5, 3, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if sum.SnapshotCount != 4 || sum.PendingCount != 4 {
		t.Errorf("summary = %+v", sum)
	}

	// Deleted and replaced objects: an incremental sync cannot see them, a full one does.
	deleteObject(t, d, "daily/proj-a/20260501T020000Z.sql.gz")
	putObject(t, d, "daily/proj-b/1777773600.sql.gz", gz(dumpSQL+"-- changed\n"))
	res = mustSync(t, d, SyncOptions{})
	if res.Deleted != 0 || res.Changed != 0 {
		t.Errorf("incremental saw deletions or changes: %+v", res)
	}
	verified = nil
	res = mustSync(t, d, SyncOptions{Full: true, OnChanged: onChanged})
	if res.Deleted != 1 || res.Changed != 1 || res.Added != 0 || len(verified) != 1 {
		t.Fatalf("full sync = %+v, verify %v", res, verified)
	}
	gone, err := SnapshotGetByKey(ctx, d.Pool, "daily/proj-a/20260501T020000Z.sql.gz")
	if err != nil || gone.DeletedAt == nil || gone.Usable() == nil {
		t.Errorf("deleted snapshot = %+v, %v", gone, err)
	}
	sum, _ = ProjectSummaryGet(ctx, d.Pool, "proj-a", time.Now())
	if sum.SnapshotCount != 3 {
		t.Errorf("after deletion proj-a has %d snapshots, want 3", sum.SnapshotCount)
	}
	res = mustSync(t, d, SyncOptions{Full: true})
	if res.Added+res.Changed+res.Deleted != 0 {
		t.Errorf("idle full sync = %+v", res)
	}

	// An object put back is live again.
	putObject(t, d, "daily/proj-a/20260501T020000Z.sql.gz", body)
	res = mustSync(t, d, SyncOptions{Ref: "proj-a", Full: true})
	if res.Changed != 1 {
		t.Errorf("project sync after re-upload = %+v", res)
	}
	back, _ := SnapshotGetByKey(ctx, d.Pool, "daily/proj-a/20260501T020000Z.sql.gz")
	if back.DeletedAt != nil || back.ID != gone.ID {
		t.Errorf("re-uploaded snapshot = %+v", back)
	}

	last, err := SyncLatest(ctx, d.Pool, "proj-a")
	if err != nil || !last.Full || last.ProjectRef == nil {
		t.Errorf("latest sync = %+v, %v", last, err)
	}
	if _, err := SyncLatest(ctx, d.Pool, "nobody"); err != nil {
		t.Errorf("SyncLatest covers every-project syncs too: %v", err)
	}
	if _, err := Get(ctx, d.Pool, 999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func TestSyncPaginatesAndBatches(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	// 1,203 objects over 3 projects: more than one page of 1,000 and several batches.
	body := []byte("x")
	start := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	n := 0
	for _, ref := range []string{"pa", "pb", "pc"} {
		for i := range 401 {
			putObject(t, d, KeyFor(d.Prefix, ref, start.Add(time.Duration(i)*time.Hour)), body)
			n++
		}
	}
	res := mustSync(t, d, SyncOptions{Full: true, BatchSize: 500})
	if res.Added != n || res.Projects != 3 || res.Requests < 2 {
		t.Fatalf("full sync = %+v, want %d added", res, n)
	}
	res = mustSync(t, d, SyncOptions{Full: true, WholePrefix: true})
	if res.Added+res.Changed+res.Deleted != 0 || res.Listed != n || res.Requests != 2 {
		t.Fatalf("whole-prefix full sync = %+v, want %d listed in 2 pages, nothing changed", res, n)
	}
	deleteObject(t, d, KeyFor(d.Prefix, "pb", start))
	if res = mustSync(t, d, SyncOptions{Full: true, WholePrefix: true}); res.Deleted != 1 {
		t.Fatalf("whole-prefix full sync after a deletion = %+v", res)
	}
	res = mustSync(t, d, SyncOptions{})
	if res.Added != 0 || res.Listed != 0 || res.Requests != 4 {
		t.Fatalf("incremental = %+v, want nothing listed in 1 discover + 3 project requests", res)
	}
}
