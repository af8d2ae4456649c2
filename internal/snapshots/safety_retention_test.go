package snapshots

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPruneSafetyDeletesLapsedSafetySnapshots: a safety snapshot recorded
// longer ago than the safety retention is deleted from S3 and marked deleted
// in the catalog; a recent one, one whose ticket's restore is still running,
// and an ordinary manual snapshot stay.
func TestPruneSafetyDeletesLapsedSafetySnapshots(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	now := time.Now()
	keepFor := 48 * time.Hour
	safety := func(i int, age time.Duration, state string) int64 {
		t.Helper()
		at := day(i)
		key := KeyFor(d.Prefix, "proj-safe", at)
		putObject(t, d, key, []byte("x"))
		id := insertSnapshot(t, d.Pool, "proj-safe", key, &at, StatusVerified, KindManual)
		if state == "" {
			return id // a manual snapshot of no ticket
		}
		var ticket int64
		if err := d.Pool.QueryRow(ctx, `INSERT INTO tickets (source, requester_email, project_ref, state) VALUES ('portal', 'a@example.com', 'proj-safe', $1) RETURNING id`,
			state).Scan(&ticket); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Pool.Exec(ctx, `INSERT INTO ticket_safety_snapshots (ticket_id, snapshot_id, created_at) VALUES ($1, $2, $3)`,
			ticket, id, now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	lapsed := safety(1, 72*time.Hour, "succeeded")
	recent := safety(2, time.Hour, "succeeded")
	running := safety(3, 72*time.Hour, "running")
	manual := safety(4, 0, "")

	pruned, err := PruneSafety(ctx, d, keepFor, now, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(pruned) != 1 || pruned[0].ID != lapsed {
		t.Fatalf("pruned %+v, want only the lapsed safety snapshot %d", pruned, lapsed)
	}
	s, _ := Get(ctx, d.Pool, lapsed)
	if s.DeletedAt == nil || s.DeletedReason != "safety retention" {
		t.Fatalf("lapsed safety snapshot in the catalog: %+v", s)
	}
	if _, err := d.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.Bucket, Key: &s.Key}); err == nil {
		t.Fatal("lapsed safety snapshot still in S3")
	}
	for _, id := range []int64{recent, running, manual} {
		s, _ := Get(ctx, d.Pool, id)
		if s.DeletedAt != nil {
			t.Fatalf("snapshot %d deleted: %+v", id, s)
		}
		if _, err := d.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.Bucket, Key: &s.Key}); err != nil {
			t.Fatalf("snapshot %d gone from S3: %v", id, err)
		}
	}
	if again, err := PruneSafety(ctx, d, keepFor, now, "proj-safe"); err != nil || len(again) != 0 {
		t.Fatalf("second prune: %v %v", again, err)
	}
}
