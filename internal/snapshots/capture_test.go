package snapshots

import (
	"compress/gzip"
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/testenv"
)

const sourceSchema = `
CREATE SCHEMA app;
CREATE TABLE app.users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, note text);
CREATE TABLE public.orders (id bigserial PRIMARY KEY, user_id int REFERENCES app.users (id), total numeric, tags text[]);
CREATE TABLE public."Odd Name" (k text PRIMARY KEY, v jsonb);
CREATE TABLE public.empty (id int);
INSERT INTO app.users (email, note) SELECT format('u%s@example.com', g), E'tab\there \\ and\nnewline' FROM generate_series(1, 250) g;
INSERT INTO public.orders (user_id, total, tags) SELECT 1 + g % 250, g * 1.5, ARRAY['a', 'b'] FROM generate_series(1, 1000) g;
INSERT INTO public."Odd Name" VALUES ('x', '{"a": 1}'), ('y', NULL);
CREATE INDEX orders_user ON public.orders (user_id);
`

// registeredProject makes a project database with data and registers it.
func registeredProject(t *testing.T, d Deps, ref string) string {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sourceSchema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	if _, err := d.Pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')`,
		ref, strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Fatal(err)
	}
	return dbURL
}

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
	d := newDeps(t)
	d.PGDump = filepath.Join(testenv.PGBin(t), "pg_dump")
	ctx := context.Background()
	srcURL := registeredProject(t, d, "proj-cap")

	s, err := Capture(ctx, d, "proj-cap", true)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	if s.Status != StatusVerified || s.Kind != KindManual || s.TakenAt == nil || s.Size < MinSize || s.ETag == "" {
		t.Fatalf("captured = %+v", s)
	}
	if !strings.HasPrefix(s.Key, "daily/proj-cap/") || !strings.HasSuffix(s.Key, "Z.sql.gz") {
		t.Errorf("key = %s", s.Key)
	}
	tables, err := SnapshotTables(ctx, d.Pool, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, tb := range tables {
		rows[tb.Schema+"."+tb.Name] = tb.Rows
	}
	want := map[string]int64{"app.users": 250, "public.orders": 1000, "public.Odd Name": 2, "public.empty": 0}
	for k, v := range want {
		if got, ok := rows[k]; !ok || got != v {
			t.Errorf("inventory %s = %d (present %v), want %d", k, got, ok, v)
		}
	}

	// A sync afterwards finds the same object and changes nothing.
	res := mustSync(t, d, SyncOptions{Ref: "proj-cap", Full: true})
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
	d := newDeps(t)
	ctx := context.Background()
	registeredProject(t, d, "proj-small")
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	objects := func() int {
		out, err := d.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &d.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Contents)
	}

	d.PGDump = script("tiny", "echo hi")
	if _, err := Capture(ctx, d, "proj-small", false); !errors.Is(err, ErrTooSmall) {
		t.Errorf("tiny capture: %v, want ErrTooSmall", err)
	}
	d.PGDump = script("fails", "echo 'pg_dump: error: connection refused' >&2; head -c 5000 /dev/urandom; exit 1")
	if _, err := Capture(ctx, d, "proj-small", false); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("failing pg_dump: %v", err)
	}
	if n := objects(); n != 0 {
		t.Errorf("%d objects left in the bucket after refused captures", n)
	}
	if list, _ := SnapshotListByProject(ctx, d.Pool, "proj-small", 0); len(list) != 0 {
		t.Errorf("refused captures left %d catalog rows", len(list))
	}

	insertSnapshot(t, d.Pool, "proj-found", "daily/proj-found/x.sql.gz", nil, StatusVerified, KindAutomatic)
	if _, err := Capture(ctx, d, "proj-found", false); !errors.Is(err, ErrNotCapturable) {
		t.Errorf("capture of a discovered project: %v", err)
	}
}

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
func TestCaptureMultipart(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	registeredProject(t, d, "proj-big")
	p := filepath.Join(t.TempDir(), "pg_dump")
	script := `#!/bin/sh
printf -- '--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\n'
printf 'CREATE TABLE public.r (v text);\n\nCOPY public.r (v) FROM stdin;\n'
head -c 9000000 /dev/urandom | base64 -w 100
printf '\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n'
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d.PGDump = p
	s, err := Capture(ctx, d, "proj-big", false)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	if s.Size <= capturePartSize || !strings.HasSuffix(s.ETag, "-2") || s.Kind != KindAutomatic {
		t.Errorf("captured %d bytes, etag %s, kind %s; want a 2-part multipart upload", s.Size, s.ETag, s.Kind)
	}
	tables, _ := SnapshotTables(ctx, d.Pool, s.ID)
	if len(tables) != 1 || tables[0].Rows != 120000 {
		t.Errorf("inventory = %+v, want 120000 rows", tables)
	}
}
