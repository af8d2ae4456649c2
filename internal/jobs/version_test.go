package jobs_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestRestoreRefusesAnObjectReplacedAfterVerification: after a snapshot was verified
// its object is overwritten with another complete, valid dump (of a later state). A
// destructive restore of the snapshot fails before anything changes, the ticket says
// why, and the snapshot is verified again, now as the new version.
func TestRestoreRefusesAnObjectReplacedAfterVerification(t *testing.T) {
	t.Parallel()
	h, snap, before := newChangedHarness(t)

	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(h.dump(h.db)))
	_ = zw.Close()
	ctx := context.Background()
	out, err := h.deps.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &snap.Key,
		Body: bytes.NewReader(b.Bytes()), ContentLength: aws.Int64(int64(b.Len()))})
	if err != nil {
		t.Fatal(err)
	}
	newETag := strings.Trim(aws.ToString(out.ETag), `"`)

	tk := h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "the snapshot object changed after it was verified") {
		t.Fatalf("restore of a replaced object: %s %+v", tk.State, tk.Result)
	}
	h.wantLive(before, "the live database changed")
	if h.databaseExists(h.db+"_stg_t"+itoa(tk.ID)) || h.databaseExists(demo.DatabaseName(tk.TargetRef())+"_pre_t"+itoa(tk.ID)) {
		t.Fatal("the refused restore left a database behind")
	}

	// The re-verification job the worker enqueued records the new version.
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := snapshots.SnapshotGet(ctx, h.pool, snap.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == snapshots.StatusVerified && s.ETag == newETag && s.Size == int64(b.Len()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot not verified again as the new version: %+v (new etag %s)", s, newETag)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
