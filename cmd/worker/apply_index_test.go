package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/verify"
)

// TestApplyCommandUsesTheAccessIndex: with the portal's database at hand,
// `worker apply` of a verified snapshot in S3 reads a table through its stored
// access index (only some of the object) and a full apply in parts, and gets
// what reading the whole dump gets. A forged index (its digest is not the one
// verification recorded) and an object replaced since verification are not
// used: auto reads the whole object and says why, require fails.
func TestApplyCommandUsesTheAccessIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bin := buildWorker(t)
	srcURL := testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	// bulk: about 11 MB, skipped by a tables read and a part of its own in a
	// full one; late: small, written after it.
	if _, err := conn.Exec(ctx, `
		CREATE TABLE public.bulk (id integer PRIMARY KEY, body text);
		INSERT INTO public.bulk SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 150000) g;
		CREATE TABLE public.late (id integer PRIMARY KEY, bulk_id integer REFERENCES public.bulk, note text);
		INSERT INTO public.late SELECT g, g * 3, 'late ' || g FROM generate_series(1, 500) g;`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	plain := pgDump(t, srcURL)
	var gz bytes.Buffer
	zw := seekgz.NewWriter(&gz, 2)
	zw.Write(plain)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	portalURL := testenv.PortalURL(t)
	pool := testenv.PortalPoolAt(t, portalURL)
	client, bucket := testenv.S3(t)
	d := snapshots.Deps{Pool: pool, S3: client, Bucket: bucket, Prefix: "daily", Log: testenv.Logger(t)}
	key := "daily/proj-apply/20260101T000000Z.sql.gz"
	put := func(body []byte) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put(gz.Bytes())
	if _, err := snapshots.Sync(ctx, d, snapshots.SyncOptions{Ref: "proj-apply", Full: true}); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshots.SnapshotGetByKey(ctx, pool, key)
	if err != nil {
		t.Fatal(err)
	}
	if snap, err = verify.Snapshot(ctx, d, snap.ID); err != nil || snap.Status != snapshots.StatusVerified {
		t.Fatalf("verify: %v, %+v", err, snap)
	}

	env := append([]string{"PORTAL_S3_BUCKET=" + bucket, "PORTAL_DATABASE_URL=" + portalURL}, stackS3Env(t)...)
	apply := func(args ...string) (string, string, error) {
		t.Helper()
		target := testenv.NewDatabase(t)
		out, err := execApply(bin, env, append([]string{"--dump", "s3://" + bucket + "/" + key, "--database-url", target, "--jobs", "2"}, args...)...)
		return target, out, err
	}
	dumpOf := func(url string, table ...string) string {
		t.Helper()
		var args []string
		for _, tb := range table { // a table's rows (a tables apply leaves out its foreign key to bulk)
			args = append(args, "--data-only", "--table", tb)
		}
		return stripRestrict(string(pgDump(t, url, args...)))
	}
	wantLate := dumpOf(srcURL, "public.late")
	wantAll := dumpOf(srcURL)

	target, out, err := apply("--table", "public.late", "--index", "require")
	if err != nil || !strings.Contains(out, "through the access index") {
		t.Fatalf("tables apply through the index: %v\n%s", err, out)
	}
	if got := dumpOf(target, "public.late"); got != wantLate {
		t.Fatalf("public.late through the index differs from the source:\n%s", out)
	}
	target, out, err = apply("--index", "require")
	if err != nil || !strings.Contains(out, "in parts through the access index") {
		t.Fatalf("full apply in parts: %v\n%s", err, out)
	}
	if got := dumpOf(target); got != wantAll {
		t.Fatalf("full apply in parts differs from the source:\n%s", out)
	}
	target, out, err = apply("--index", "off")
	if err != nil || strings.Contains(out, "access index") {
		t.Fatalf("apply with --index off: %v\n%s", err, out)
	}
	if got := dumpOf(target); got != wantAll {
		t.Fatalf("whole apply differs from the source:\n%s", out)
	}

	// A forged index: well-formed, for this very version, but not the one
	// verification wrote (its checkpoints could point a read anywhere).
	ib, ik := d.IndexLocation(key, snap.ETag)
	idxObj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &ib, Key: &ik})
	if err != nil {
		t.Fatal(err)
	}
	var orig bytes.Buffer
	orig.ReadFrom(idxObj.Body)
	idxObj.Body.Close()
	idx, err := seekgz.Unmarshal(orig.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	idx.Spans = idx.Spans[:0] // nothing to skip: a restore would read tables it was never asked for
	forged, err := idx.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &ib, Key: &ik, Body: bytes.NewReader(forged)}); err != nil {
		t.Fatal(err)
	}
	if _, out, err := apply("--table", "public.late", "--index", "require"); err == nil || !strings.Contains(out, "SHA-256") {
		t.Fatalf("forged index with require: %v\n%s", err, out)
	}
	target, out, err = apply("--table", "public.late")
	if err != nil || !strings.Contains(out, "reading the whole dump") || !strings.Contains(out, "SHA-256") {
		t.Fatalf("forged index with auto: %v\n%s", err, out)
	}
	if got := dumpOf(target, "public.late"); got != wantLate {
		t.Fatalf("public.late read whole differs from the source:\n%s", out)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &ib, Key: &ik, Body: bytes.NewReader(orig.Bytes())}); err != nil {
		t.Fatal(err)
	}

	// The object replaced since verification: the catalog's index describes
	// another version; the break-glass apply takes the object as it is.
	other := bytes.Replace(plain, []byte("late 1\n"), []byte("late X\n"), 1)
	put(seekgzBytes(t, other))
	if _, out, err := apply("--table", "public.late", "--index", "require"); err == nil || !strings.Contains(out, "not the verified") {
		t.Fatalf("replaced object with require: %v\n%s", err, out)
	}
	target, out, err = apply("--table", "public.late")
	if err != nil || !strings.Contains(out, "not the verified") {
		t.Fatalf("replaced object with auto: %v\n%s", err, out)
	}
	if got := dumpOf(target, "public.late"); !strings.Contains(got, "late X") {
		t.Fatalf("the replaced object was not applied as it is:\n%s", out)
	}
}

func seekgzBytes(t *testing.T, plain []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := seekgz.NewWriter(&b, 2)
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// stripRestrict drops pg_dump's \restrict and \unrestrict lines, whose key
// differs from one run to the next.
func stripRestrict(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, `\restrict `) || strings.HasPrefix(l, `\unrestrict `) {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}
