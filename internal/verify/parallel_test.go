package verify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/testenv/dumptest"
)

func openParallel(t *testing.T, d snapshots.Deps, s snapshots.Snapshot) *snapshots.Dump {
	t.Helper()
	src, err := snapshots.OpenVerified(context.Background(), d, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	dump, err := snapshots.OpenDumpParallel(context.Background(), d, s, src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dump.Close() })
	return dump
}

// partEntries reads the entries of each part of dump, in the parts' order.
func partEntries(t *testing.T, dump *snapshots.Dump, during func(part int, rows io.Reader, buf *bytes.Buffer)) map[string][]dumptest.Entry {
	t.Helper()
	out := map[string][]dumptest.Entry{}
	for i, p := range dump.Parts() {
		rc, err := p.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		dumptest.Each(t, fmt.Sprintf("part %s", p.Table), rc, func(e *extract.Entry) {
			var buf bytes.Buffer
			if e.Rows != nil {
				if during != nil {
					during(i, e.Rows, &buf)
				}
				if _, err := io.Copy(&buf, e.Rows); err != nil {
					t.Fatalf("part %s: rows: %v", p.Table, err)
				}
			}
			out[p.Table.Name] = append(out[p.Table.Name], dumptest.View(e, buf.String()))
		})
		rc.Close()
	}
	return out
}

// TestFullRestoreReadsInPartsThroughTheIndex: with the verified index, a full
// restore's stream is the dump less the big tables' data, and each big table
// is a part of its own, largest first, holding exactly its COPY entry, read
// by a ranged GET that resumes after S3 is cut in the middle of it.
func TestFullRestoreReadsInPartsThroughTheIndex(t *testing.T) {
	t.Parallel()
	d, s, plain := verifiedSeek(t, 12)
	fd, p := faultyDeps(t, d)
	dump := openParallel(t, fd, s)
	if dump.Ranged || dump.Fallback != "" || len(dump.Parts()) != 2 {
		t.Fatalf("ranged %v, fallback %q, %d parts", dump.Ranged, dump.Fallback, len(dump.Parts()))
	}
	main, trailer := dumpEntries(t, dump, nil)
	want, _ := dumpEntries(t, strings.NewReader(plain), keepSet("late"))
	if !trailer || fmt.Sprint(main) != fmt.Sprint(want) {
		t.Fatalf("main stream: %d entries (trailer %v), want %d", len(main), trailer, len(want))
	}
	cut := false
	parts := partEntries(t, dump, func(i int, rows io.Reader, buf *bytes.Buffer) {
		if i != 1 {
			return
		}
		if _, err := io.CopyN(buf, rows, 256<<10); err != nil {
			t.Fatal(err)
		}
		p.StartOutage() // 256 KiB into the second part's rows
		go func() {
			<-p.Refused()
			p.EndOutage()
		}()
		cut = true
	})
	all, _ := dumpEntries(t, strings.NewReader(plain), nil)
	for _, name := range []string{"big1", "big2"} {
		var wantPart []dumptest.Entry
		for _, e := range all {
			if e.Kind == extract.KindCopy && strings.Contains(e.SQL, "public."+name+" ") {
				wantPart = append(wantPart, e)
			}
		}
		if len(parts[name]) != 1 || fmt.Sprint(parts[name]) != fmt.Sprint(wantPart) {
			t.Fatalf("part %s: %d entries, want its one COPY entry", name, len(parts[name]))
		}
	}
	if !cut || dump.PartsResumed() < 1 {
		t.Errorf("cut %v, resumed %d", cut, dump.PartsResumed())
	}
}

// TestFullRestoreInPartsEqualsTheSequentialOne: restore.Apply of the parted
// dump from S3 stores the rows the sequential read of the same snapshot does,
// the big tables by part readers.
func TestFullRestoreInPartsEqualsTheSequentialOne(t *testing.T) {
	t.Parallel()
	d, s, plain := verifiedSeek(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	seq, par := testenv.NewDatabase(t), testenv.NewDatabase(t)
	if _, err := restore.Apply(ctx, strings.NewReader(plain), restore.Options{DatabaseURL: seq, Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	res, err := restore.Apply(ctx, openParallel(t, d, s), restore.Options{DatabaseURL: par, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Tables {
		if (tr.Table.Name == "big1" || tr.Table.Name == "big2") != (tr.LoadedBy > 0) {
			t.Errorf("%s loaded by reader %d", tr.Table, tr.LoadedBy)
		}
	}
	for _, table := range []string{"big1", "big2", "late"} {
		q := "SELECT count(*) || ':' || md5(string_agg(id || body, ',' ORDER BY id)) FROM public." + table
		if a, b := scalar(t, seq, q), scalar(t, par, q); a != b {
			t.Errorf("%s: sequential %s, in parts %s", table, a, b)
		}
	}
}

func scalar(t *testing.T, url, q string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(context.Background(), q).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFullRestoreFallsBackToOneStream: a corrupt or missing index makes a full
// restore read the whole dump as one stream, as before.
func TestFullRestoreFallsBackToOneStream(t *testing.T) {
	t.Parallel()
	d, s, plain := verifiedSeek(t, 5)
	bucket, key := d.IndexLocation(s.Key, s.ETag)
	want, _ := dumpEntries(t, strings.NewReader(plain), nil)
	check := func(what string) {
		t.Helper()
		dump := openParallel(t, d, s)
		if dump.Parts() != nil || dump.Ranged {
			t.Fatalf("%s: %d parts, ranged %v", what, len(dump.Parts()), dump.Ranged)
		}
		got, trailer := dumpEntries(t, dump, nil)
		if !trailer || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
		}
	}
	if n := len(openParallel(t, d, s).Parts()); n != 2 {
		t.Fatalf("with the index: %d parts", n)
	}
	idx, err := snapshots.LoadIndex(context.Background(), d, s)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := idx.Marshal()
	enc[len(enc)/3] ^= 0x40
	putIndex(t, d, bucket, key, enc)
	check("corrupt index")
	deleteObject(t, snapshots.Deps{S3: d.S3, Bucket: bucket}, key)
	check("missing index")
}
