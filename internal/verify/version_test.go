package verify

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
)

// verifiedSnapshot puts dump under key, syncs and verifies it.
func verifiedSnapshot(t *testing.T, d snapshots.Deps, ref, key string, body []byte) snapshots.Snapshot {
	t.Helper()
	putObject(t, d, key, body)
	mustSync(t, d, snapshots.SyncOptions{Ref: ref, Full: true})
	s, err := snapshots.SnapshotGetByKey(context.Background(), d.Pool, key)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = Snapshot(context.Background(), d, s.ID); err != nil || s.Status != snapshots.StatusVerified {
		t.Fatalf("verify: %+v, %v", s, err)
	}
	if s.ETag == "" || s.Size != int64(len(body)) {
		t.Fatalf("verification recorded etag %q size %d, want the object's (%d bytes)", s.ETag, s.Size, len(body))
	}
	return s
}

// TestOpenVerifiedRefusesAnObjectReplacedAfterVerification: the object is overwritten
// after verification; the restore's reader refuses it, the snapshot is back to
// pending with the reason, the caller learns what to verify, and verifying again
// records the new version.
func TestOpenVerifiedRefusesAnObjectReplacedAfterVerification(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	key := "daily/proj-ver/20260101T000000Z.sql.gz"
	s := verifiedSnapshot(t, d, "proj-ver", key, gz(dumpSQL))
	replaced := gz(bigDump(50))
	putObject(t, d, key, replaced)

	var got []snapshots.ToVerify
	_, err := snapshots.OpenVerified(ctx, d, s, func(_ context.Context, v snapshots.ToVerify) { got = append(got, v) })
	if !errors.Is(err, objstore.ErrObjectChanged) || !strings.HasPrefix(err.Error(), snapshots.ReasonChanged) {
		t.Fatalf("err = %v, want ErrObjectChanged", err)
	}
	after, err := snapshots.SnapshotGet(ctx, d.Pool, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != snapshots.StatusPending || after.Reason != snapshots.ReasonChanged || after.Usable() == nil {
		t.Errorf("after the refusal: status %s reason %q", after.Status, after.Reason)
	}
	if len(got) != 1 || got[0].ID != s.ID || got[0].ETag == s.ETag || got[0].ETag != after.ETag {
		t.Errorf("onChanged got %+v; snapshot etag was %s, is %s", got, s.ETag, after.ETag)
	}
	if tables, _ := snapshots.SnapshotTables(ctx, d.Pool, s.ID); len(tables) != 0 {
		t.Errorf("inventory of the old version kept: %+v", tables)
	}
	again, err := Snapshot(ctx, d, s.ID)
	if err != nil || again.Status != snapshots.StatusVerified || again.Size != int64(len(replaced)) || again.ETag != after.ETag {
		t.Errorf("re-verification: %+v, %v", again, err)
	}
}

// TestOpenVerifiedRefusesAReplacementMidStream: the object is replaced while a
// restore reads it; the resume after a dropped connection is refused.
func TestOpenVerifiedRefusesAReplacementMidStream(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	key := "daily/proj-vm/20260101T000000Z.sql.gz"
	body := gz(bigDump(200_000))
	s := verifiedSnapshot(t, d, "proj-vm", key, body)

	cfg := testenv.Config(t).S3
	cfg.Endpoint = "http://" + testenv.CutProxy(t, strings.TrimPrefix(cfg.Endpoint, "http://"), int64(len(body)/2), 1)
	cut, err := objstore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc := d
	dc.S3 = cut
	r, err := snapshots.OpenVerified(ctx, dc, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 10_000)); err != nil {
		t.Fatal(err)
	}
	putObject(t, d, key, gz(bigDump(199_999)))
	n, err := io.Copy(io.Discard, r)
	if !errors.Is(err, objstore.ErrObjectChanged) {
		t.Fatalf("err = %v after %d more bytes, want ErrObjectChanged", err, n)
	}
	if after, _ := snapshots.SnapshotGet(ctx, d.Pool, s.ID); after.Status != snapshots.StatusPending {
		t.Errorf("status %s after a mid-stream refusal", after.Status)
	}
}
