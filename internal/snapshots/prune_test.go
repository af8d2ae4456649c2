package snapshots

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestPrune(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	status := map[int]Status{1: StatusVerified, 2: StatusVerified, 3: StatusVerified, 4: StatusVerified, 5: StatusCorrupt, 6: StatusCorrupt}
	ids := map[int]int64{}
	for i := 1; i <= 6; i++ {
		at := day(i)
		kind := KindAutomatic
		if i == 2 {
			kind = KindManual
		}
		key := KeyFor(d.Prefix, "proj-k", at)
		putObject(t, d, key, []byte("x"))
		ids[i] = insertSnapshot(t, d.Pool, "proj-k", key, &at, status[i], kind)
	}
	// Another project under the limit is untouched.
	insertSnapshot(t, d.Pool, "proj-other", "daily/proj-other/20260501T020000Z.sql.gz", ptr(day(1)), StatusVerified, KindAutomatic)
	// An open ticket references day 3 (the tickets migration defines the real view).
	if _, err := d.Pool.Exec(ctx, `CREATE OR REPLACE VIEW snapshot_references AS SELECT `+
		strconv.FormatInt(ids[3], 10)+`::bigint AS snapshot_id`); err != nil {
		t.Fatal(err)
	}
	// keep 2: automatic by age are 6, 5, 4, 3, 1 (2 is manual). 6 and 5 are kept as the newest two,
	// 4 as the newest verified, 3 as referenced: only 1 goes.
	pruned, err := Prune(ctx, d, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(pruned) != 1 || pruned[0].ID != ids[1] {
		t.Fatalf("pruned %+v, want day 1 only", pruned)
	}
	s, _ := Get(ctx, d.Pool, ids[1])
	if s.DeletedAt == nil || s.DeletedReason != "retention" {
		t.Errorf("pruned snapshot = %+v", s)
	}
	if _, err := d.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.Bucket, Key: &s.Key}); err == nil {
		t.Error("pruned object still in S3")
	}
	sum, _ := ProjectSummaryGet(ctx, d.Pool, "proj-k", day(6))
	if sum.SnapshotCount != 5 {
		t.Errorf("summary after prune = %+v", sum)
	}
	again, err := Prune(ctx, d, 2, "proj-k")
	if err != nil || len(again) != 0 {
		t.Errorf("second prune = %v, %v", again, err)
	}
}

// TestCaptureMultipart streams a dump larger than one upload part, so the
// uploader makes a multipart upload of unknown length.
