package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/testenv/dumptest"
)

// seekDump is a complete dump with two big tables (mb MiB of poorly compressible
// rows each) and a small table written late, then post-data.
func seekDump(mb int) string {
	var b strings.Builder
	b.WriteString("--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\nSET statement_timeout = 0;\n\n")
	names := []string{"big1", "big2", "late"}
	for _, n := range names {
		fmt.Fprintf(&b, "--\n-- Name: %s; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.%s (\n    id integer NOT NULL,\n    body text\n);\n\n", n, n)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i, n := range names {
		fmt.Fprintf(&b, "--\n-- Data for Name: %s; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.%s (id, body) FROM stdin;\n", n, n)
		size := mb << 20
		if i == 2 {
			size = 2000
		}
		start := b.Len()
		for r := 0; b.Len()-start < size; r++ {
			fmt.Fprintf(&b, "%d\t%s row %d %016x%016x\n", r, n, r, rng.Uint64(), rng.Uint64())
		}
		b.WriteString("\\.\n\n\n")
	}
	for _, n := range names {
		fmt.Fprintf(&b, "--\n-- Name: %s %s_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.%s\n    ADD CONSTRAINT %s_pkey PRIMARY KEY (id);\n\n", n, n, n, n)
	}
	b.WriteString("--\n-- PostgreSQL database dump complete\n--\n\n")
	return b.String()
}

// dumpEntries parses a plain dump into its entries, dropping the COPY entries
// of tables not in keep (nil: keep all).
func dumpEntries(t *testing.T, r io.Reader, keep map[string]bool) ([]dumptest.Entry, bool) {
	t.Helper()
	return dumptest.Entries(t, r, func(e *extract.Entry) bool {
		return e.Kind != extract.KindCopy || keep == nil || keep[e.Table.Name]
	})
}

// verifiedSeek puts the seek dump, syncs and verifies it, with the access
// indexes in a bucket of their own.
func verifiedSeek(t *testing.T, mb int) (snapshots.Deps, snapshots.Snapshot, string) {
	t.Helper()
	d := newDeps(t)
	_, d.IndexBucket = testenv.S3(t)
	d.IndexPrefix = "idx"
	plain := seekDump(mb)
	putObject(t, d, "daily/proj-seek/20260101T000000Z.sql.gz", gz(plain))
	mustSync(t, d, snapshots.SyncOptions{Ref: "proj-seek", Full: true})
	s, err := snapshots.SnapshotGetByKey(context.Background(), d.Pool, "daily/proj-seek/20260101T000000Z.sql.gz")
	if err != nil {
		t.Fatal(err)
	}
	if s, err = Snapshot(context.Background(), d, s.ID); err != nil || s.Status != snapshots.StatusVerified {
		t.Fatalf("verify: %v, %+v", err, s)
	}
	return d, s, plain
}

func openDump(t *testing.T, d snapshots.Deps, s snapshots.Snapshot, tables ...string) (*snapshots.Dump, *objstore.Reader) {
	t.Helper()
	src, err := snapshots.OpenVerified(context.Background(), d, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	var qs []extract.QualifiedName
	for _, n := range tables {
		qs = append(qs, extract.QualifiedName{Schema: "public", Name: n})
	}
	dump, err := snapshots.OpenDump(context.Background(), d, s, src, qs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dump.Close() })
	return dump, src
}

func keepSet(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// TestVerifyIndexServesTableRestores: verification stores the access index in
// another bucket, small next to the dump; a restore of the late table reads a
// small part of the object and sees exactly the dump less the other tables' data.
func TestVerifyIndexServesTableRestores(t *testing.T) {
	t.Parallel()
	d, s, plain := verifiedSeek(t, 10)
	bucket, key := d.IndexLocation(s.Key, s.ETag)
	if bucket == d.Bucket || !strings.HasPrefix(key, "idx/daily/proj-seek/") {
		t.Fatalf("index at s3://%s/%s", bucket, key)
	}
	head, err := d.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("no index object: %v", err)
	}
	if n := *head.ContentLength; n*100 > s.Size {
		t.Errorf("index is %d bytes, over 1%% of the %d-byte snapshot", n, s.Size)
	}
	for _, pick := range [][]string{{"late"}, {"big2"}, {"big1", "late"}} {
		dump, _ := openDump(t, d, s, pick...)
		if !dump.Ranged || dump.Fallback != "" {
			t.Fatalf("%v: ranged %v, fallback %q", pick, dump.Ranged, dump.Fallback)
		}
		// Small tables may come along; the restore engine leaves their data aside.
		got, trailer := dumpEntries(t, dump, keepSet(pick...))
		want, _ := dumpEntries(t, strings.NewReader(plain), keepSet(pick...))
		if !trailer || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%v: %d entries (trailer %v), want %d", pick, len(got), trailer, len(want))
		}
		if dump.Fetched() > dump.Planned() {
			t.Errorf("%v: fetched %d, planned %d", pick, dump.Fetched(), dump.Planned())
		}
		if pick[0] == "late" && dump.Planned()*10 > s.Size {
			t.Errorf("the late table cost %d of %d compressed bytes", dump.Planned(), s.Size)
		}
		t.Logf("%v: %d of %d compressed bytes requested", pick, dump.Planned(), s.Size)
	}
}

// TestTableRestoreFallsBackWithoutAUsableIndex: a corrupt index, an index of
// another version and a missing one each make a tables restore read the whole
// dump, say why, and still see the right entries.
func TestTableRestoreFallsBackWithoutAUsableIndex(t *testing.T) {
	t.Parallel()
	d, s, plain := verifiedSeek(t, 1)
	bucket, key := d.IndexLocation(s.Key, s.ETag)
	want, _ := dumpEntries(t, strings.NewReader(plain), nil)
	check := func(what, reason string) {
		t.Helper()
		dump, src := openDump(t, d, s, "late")
		if dump.Ranged || !strings.Contains(dump.Fallback, reason) {
			t.Fatalf("%s: ranged %v, fallback %q", what, dump.Ranged, dump.Fallback)
		}
		got, trailer := dumpEntries(t, dump, nil)
		if !trailer || fmt.Sprint(got) != fmt.Sprint(want) || src.Offset() != s.Size {
			t.Fatalf("%s: %d entries, read %d of %d bytes", what, len(got), src.Offset(), s.Size)
		}
	}
	idx, err := snapshots.LoadIndex(context.Background(), d, s)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := idx.Marshal()
	// Attack: a well-formed index of the same version put in its place, whose
	// spans would splice the dump elsewhere; it is not the object verification
	// wrote, so it is not used.
	forged := *idx
	forged.Spans = append([]seekgz.Span(nil), idx.Spans...)
	forged.Spans[0].End -= 100
	enc, _ := forged.Marshal()
	putIndex(t, d, bucket, key, enc)
	if _, err := seekgz.Unmarshal(enc); err != nil {
		t.Fatalf("the forged index should be well-formed: %v", err)
	}
	check("forged index", "not the index verification wrote")

	enc = bytes.Clone(orig)
	enc[len(enc)/2] ^= 1
	putIndex(t, d, bucket, key, enc)
	check("corrupt index", "unusable")

	putIndex(t, d, bucket, key, orig)
	if _, err := snapshots.LoadIndex(context.Background(), d, s); err != nil {
		t.Fatalf("the original index put back: %v", err)
	}
	changed := s
	changed.ETag = "0123456789abcdef0123456789abcdef"
	if _, err := snapshots.LoadIndex(context.Background(), d, changed); !errors.Is(err, snapshots.ErrNoIndex) {
		t.Fatalf("LoadIndex for another version: %v", err)
	}

	if _, err := d.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	if _, err := snapshots.LoadIndex(context.Background(), d, s); !errors.Is(err, snapshots.ErrNoIndex) {
		t.Fatalf("LoadIndex of a deleted index: %v", err)
	}
	check("missing index", "no access index")
}

func putIndex(t *testing.T, d snapshots.Deps, bucket, key string, body []byte) {
	t.Helper()
	d.Bucket = bucket
	putObject(t, d, key, body)
}

// TestRangedReadResumesAfterAnS3Cut: S3 goes away while a table's range streams;
// the ranged GET resumes once it is back and the stream is still exact.
func TestRangedReadResumesAfterAnS3Cut(t *testing.T) {
	t.Parallel()
	d, s, plain := verifiedSeek(t, 10)
	fd, p := faultyDeps(t, d)
	src, err := snapshots.OpenVerified(context.Background(), d, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dump, err := snapshots.OpenDump(context.Background(), fd, s, src, []extract.QualifiedName{{Schema: "public", Name: "big2"}}, nil)
	if err != nil || !dump.Ranged {
		t.Fatalf("open: %v, ranged %v", err, dump != nil && dump.Ranged)
	}
	defer dump.Close()
	var got []dumptest.Entry
	cut := false
	trailer := dumptest.Each(t, "", dump, func(e *extract.Entry) {
		if e.Kind == extract.KindCopy && e.Table.Name != "big2" {
			return
		}
		var buf bytes.Buffer
		if e.Rows != nil {
			if _, err := io.CopyN(&buf, e.Rows, 1<<20); err != nil {
				t.Fatal(err)
			}
			p.StartOutage() // a megabyte into the table's rows
			go func() {
				<-p.Refused()
				p.EndOutage()
			}()
			cut = true
			if _, err := io.Copy(&buf, e.Rows); err != nil {
				t.Fatalf("rows after the cut: %v", err)
			}
		}
		got = append(got, dumptest.View(e, buf.String()))
	})
	want, _ := dumpEntries(t, strings.NewReader(plain), keepSet("big2"))
	if !cut || !trailer || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cut %v: %d entries, want %d", cut, len(got), len(want))
	}
	if dump.Resumed() < 1 {
		t.Errorf("the ranged reads resumed %d times", dump.Resumed())
	}
}
