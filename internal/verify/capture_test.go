package verify

import (
	"compress/gzip"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
)

// tableFingerprints returns, per table, its row count and an md5 of its rows in key order.
func tableFingerprints(t *testing.T, dbURL string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	out := map[string]string{}
	for _, q := range []string{"app.users", "public.orders", `public."Odd Name"`, "public.empty"} {
		var fp string
		if err := conn.QueryRow(ctx, `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')
			FROM `+q+` t`).Scan(&fp); err != nil {
			t.Fatal(err)
		}
		out[q] = fp
	}
	return out
}

func TestCaptureRoundTrip(t *testing.T) {
	t.Parallel()
	d, srcURL := projectDeps(t, "proj-cap")
	d.PGDump = filepath.Join(testenv.PGBin(t), "pg_dump")
	ctx := context.Background()

	s, err := Capture(ctx, d, "proj-cap", true)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	if s.Status != snapshots.StatusVerified || s.Kind != snapshots.KindManual || s.TakenAt == nil || s.Size < snapshots.MinSize || s.ETag == "" {
		t.Fatalf("captured = %+v", s)
	}
	if !strings.HasPrefix(s.Key, "daily/proj-cap/") || !strings.HasSuffix(s.Key, "Z.sql.gz") {
		t.Errorf("key = %s", s.Key)
	}
	rows := tableRows(t, d, s.ID)
	want := map[string]int64{"app.users": 250, "public.orders": 1000, "public.Odd Name": 2, "public.empty": 0}
	for k, v := range want {
		if got, ok := rows[k]; !ok || got != v {
			t.Errorf("inventory %s = %d (present %v), want %d", k, got, ok, v)
		}
	}

	// A sync afterwards finds the same object and changes nothing.
	res := mustSync(t, d, snapshots.SyncOptions{Ref: "proj-cap", Full: true})
	if res.Added+res.Changed+res.Deleted != 0 {
		t.Errorf("sync after capture = %+v", res)
	}

	// The snapshot applies back to an equal database.
	obj, err := objstore.NewReader(ctx, d.S3, d.Bucket, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	zr, err := gzip.NewReader(obj)
	if err != nil {
		t.Fatal(err)
	}
	dstURL := testenv.NewDatabase(t)
	if _, err := restore.Apply(ctx, zr, restore.Options{DatabaseURL: dstURL, Jobs: 2}); err != nil {
		t.Fatalf("apply captured snapshot: %v", err)
	}
	src, dst := tableFingerprints(t, srcURL), tableFingerprints(t, dstURL)
	for k, v := range src {
		if dst[k] != v {
			t.Errorf("table %s differs after round trip: source %s, restored %s", k, v, dst[k])
		}
	}
}

func TestCaptureRefusals(t *testing.T) {
	t.Parallel()
	d, _ := projectDeps(t, "proj-small")
	ctx := context.Background()
	objects := func() int {
		out, err := d.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &d.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Contents)
	}

	d.PGDump = fakePGDump(t, "tiny", "echo hi")
	if _, err := Capture(ctx, d, "proj-small", false); !errors.Is(err, snapshots.ErrTooSmall) {
		t.Errorf("tiny capture: %v, want ErrTooSmall", err)
	}
	d.PGDump = fakePGDump(t, "fails", "echo 'pg_dump: error: connection refused' >&2; head -c 5000 /dev/urandom; exit 1")
	if _, err := Capture(ctx, d, "proj-small", false); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("failing pg_dump: %v", err)
	}
	if n := objects(); n != 0 {
		t.Errorf("%d objects left in the bucket after refused captures", n)
	}
	if list, _ := snapshots.SnapshotListByProject(ctx, d.Pool, "proj-small", 0); len(list) != 0 {
		t.Errorf("refused captures left %d catalog rows", len(list))
	}

	insertSnapshot(t, d.Pool, "proj-found", "daily/proj-found/x.sql.gz", nil, snapshots.StatusVerified, snapshots.KindAutomatic)
	if _, err := Capture(ctx, d, "proj-found", false); !errors.Is(err, snapshots.ErrNotCapturable) {
		t.Errorf("capture of a discovered project: %v", err)
	}
}

// capturePartSize is snapshots.capturePartSize, the uploader's part size.
const capturePartSize = 8 << 20

func TestCaptureMultipart(t *testing.T) {
	t.Parallel()
	d, _ := projectDeps(t, "proj-big")
	ctx := context.Background()
	d.PGDump = fakePGDump(t, "pg_dump", `printf -- '--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\n'
printf 'CREATE TABLE public.r (v text);\n\nCOPY public.r (v) FROM stdin;\n'
head -c 9000000 /dev/urandom | base64 -w 100
printf '\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n'`)
	s, err := Capture(ctx, d, "proj-big", false)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	if s.Size <= capturePartSize || !strings.HasSuffix(s.ETag, "-2") || s.Kind != snapshots.KindAutomatic {
		t.Errorf("captured %d bytes, etag %s, kind %s; want a 2-part multipart upload", s.Size, s.ETag, s.Kind)
	}
	tables, _ := snapshots.SnapshotTables(ctx, d.Pool, s.ID)
	if len(tables) != 1 || tables[0].Rows != 120000 {
		t.Errorf("inventory = %+v, want 120000 rows", tables)
	}
}
