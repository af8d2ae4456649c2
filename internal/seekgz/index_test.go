package seekgz

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/testenv/dumptest"
)

// dumpEntry is what DumpIndexer takes of e (internal/verify does the same).
func dumpEntry(e *extract.Entry) DumpEntry {
	return DumpEntry{Offset: e.Offset, AfterTrailer: e.AfterTrailer, Copy: e.Kind == extract.KindCopy, Schema: e.Table.Schema, Name: e.Table.Name}
}

// indexDump reads the whole gzipped dump src and returns its access index,
// built as verification (internal/verify) builds it.
func indexDump(src io.Reader, etag string, size int64) (*Index, error) {
	z, err := NewReader(src)
	if err != nil {
		return nil, err
	}
	b := NewBuilder(z)
	d := &DumpIndexer{B: b}
	if _, err := extract.InventoryFunc(z, func(e *extract.Entry) { d.Entry(dumpEntry(e)) }); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, z); err != nil {
		return nil, err
	}
	return b.Index(etag, size, z.Offset()), nil
}

// indexOf builds the index of data with small spacing, so that even the golden
// dumps get many checkpoints.
func indexOf(t testing.TB, data []byte, every, near int64) *Index {
	t.Helper()
	z, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(z)
	b.Every, b.Near = every, near
	d := &DumpIndexer{B: b}
	if _, err := extract.InventoryFunc(z, func(e *extract.Entry) { d.Entry(dumpEntry(e)) }); err != nil {
		t.Fatal(err)
	}
	return b.Index("etag", int64(len(data)), z.Offset())
}

type fetcher struct {
	data    []byte
	fetches int
}

func (f *fetcher) fetch(start, end int64) (io.ReadCloser, error) {
	f.fetches++
	if start < 0 || end > int64(len(f.data)) || start > end {
		return nil, fmt.Errorf("bad range %d-%d", start, end)
	}
	return io.NopCloser(bytes.NewReader(f.data[start:end])), nil
}

// manyTables is a dump of n tables of rows each, gzipped in members of about
// member bytes (0: one member).
func manyTables(t testing.TB, n, rows int, members int) (plain, data []byte) {
	var b bytes.Buffer
	b.WriteString("--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSET statement_timeout = 0;\n\n")
	for i := range n {
		fmt.Fprintf(&b, "--\n-- Name: t%d; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.t%d (id integer, body text);\n\n", i, i)
	}
	for i := range n {
		fmt.Fprintf(&b, "--\n-- Data for Name: t%d; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.t%d (id, body) FROM stdin;\n", i, i)
		for r := range rows {
			fmt.Fprintf(&b, "%d\ttable %d row %d %s\n", r, i, r, strings.Repeat(string(rune('a'+(r*7+i)%26)), r%50))
		}
		b.WriteString("\\.\n\n\n")
	}
	b.WriteString("--\n-- Name: t0_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.t0 ADD CONSTRAINT t0_pkey PRIMARY KEY (id);\n\n")
	b.WriteString("--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n")
	plain = b.Bytes()
	if members <= 1 {
		return plain, gz(t, gzip.DefaultCompression, plain)
	}
	var parts [][]byte
	step := len(plain)/members + 1
	for i := 0; i < len(plain); i += step {
		parts = append(parts, plain[i:min(i+step, len(plain))])
	}
	return plain, gz(t, gzip.DefaultCompression, parts...)
}

func TestIndexRoundTripAndCorruption(t *testing.T) {
	t.Parallel()
	_, data := manyTables(t, 20, 3000, 3)
	idx := indexOf(t, data, 64<<10, 0)
	if len(idx.Checkpoints) < 10 || len(idx.Spans) != 20 {
		t.Fatalf("%d checkpoints, %d spans", len(idx.Checkpoints), len(idx.Spans))
	}
	enc, err := idx.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Blocks, got.Spans, got.Length, got.Size, got.ETag) != fmt.Sprint(idx.Blocks, idx.Spans, idx.Length, idx.Size, idx.ETag) {
		t.Fatal("blocks or spans differ after a round trip")
	}
	for i := range got.Checkpoints {
		if got.Checkpoints[i].Boundary != idx.Checkpoints[i].Boundary || !bytes.Equal(got.Checkpoints[i].Window, idx.Checkpoints[i].Window) {
			t.Fatalf("checkpoint %d differs", i)
		}
	}
	for i := 0; i < len(enc); i += max(1, len(enc)/200) {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x40
		if _, err := Unmarshal(bad); !errors.Is(err, ErrBadIndex) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, n := range []int{0, 5, len(enc) / 2, len(enc) - 1} {
		if _, err := Unmarshal(enc[:n]); !errors.Is(err, ErrBadIndex) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}

// TestCheckpointsEqualSequential starts at every checkpoint of real pg_dump output
// (the golden dumps, a 9 MB row, a multi-member file) and compares with a
// sequential compress/gzip read from that offset.
func TestCheckpointsEqualSequential(t *testing.T) {
	t.Parallel()
	_, many := manyTables(t, 30, 400, 4)
	all := append(samples(t), sample{name: "many-tables-4-members", gz: many})
	for _, s := range all {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			want := stdlibGunzip(t, s.gz)
			idx := indexOf(t, s.gz, 256<<10, 0)
			if idx.Length != int64(len(want)) {
				t.Fatalf("length %d, want %d", idx.Length, len(want))
			}
			for _, c := range idx.Checkpoints {
				got, err := io.ReadAll(NewReaderAt(bytes.NewReader(s.gz[c.Bit/8:]), c.Boundary, c.Window))
				if err != nil {
					t.Fatalf("from %+v: %v", c.Boundary, err)
				}
				if !bytes.Equal(got, want[c.Out:]) {
					t.Fatalf("from %+v: differs", c.Boundary)
				}
			}
		})
	}
}

// TestNoSpanHidesTheTrailer: a dump without post-data ends with table data, the
// trailer comment and \unrestrict; skipping the last table must keep the trailer.
func TestNoSpanHidesTheTrailer(t *testing.T) {
	t.Parallel()
	plain, _ := manyTables(t, 4, 3000, 1)
	plain = bytes.Replace(plain, []byte("--\n-- Name: t0_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.t0 ADD CONSTRAINT t0_pkey PRIMARY KEY (id);\n\n"), nil, 1)
	data := gz(t, gzip.DefaultCompression, plain)
	idx := indexOf(t, data, 64<<10, 0)
	if len(idx.Spans) != 3 {
		t.Fatalf("%d spans, want 3: the last table's data runs into the trailer", len(idx.Spans))
	}
	rs := idx.Keep(func(s Span) bool { return s.Name == "t0" }, 0)
	_, trailer := dumptest.Entries(t, idx.Open(rs, (&fetcher{data: data}).fetch), nil)
	if !trailer {
		t.Fatal("the trailer was skipped")
	}
}

// TestRangesEqualFilteredDump reads a few tables through the index and checks the
// stitched stream parses to the entries of the whole dump less the other tables'
// data, trailer included, with fewer compressed bytes fetched.
func TestRangesEqualFilteredDump(t *testing.T) {
	t.Parallel()
	plain, data := manyTables(t, 30, 2000, 3)
	idx := indexOf(t, data, 1<<20, 32<<10)
	for _, pick := range [][]string{{"t29"}, {"t0"}, {"t3", "t17"}, {"t12", "t13", "t14"}, {}} {
		want := map[string]bool{}
		for _, p := range pick {
			want[p] = true
		}
		rs := idx.Keep(func(s Span) bool { return want[s.Name] }, 64<<10)
		f := &fetcher{data: data}
		rr := idx.Open(rs, f.fetch)
		got, gotTrailer := dumptest.Entries(t, rr, nil)
		exp, _ := dumptest.Entries(t, bytes.NewReader(plain), func(e *extract.Entry) bool {
			return e.Kind != extract.KindCopy || want[e.Table.Name]
		})
		if !gotTrailer {
			t.Fatalf("%v: no trailer in the stitched stream", pick)
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", exp) {
			t.Fatalf("%v: %d entries, want %d", pick, len(got), len(exp))
		}
		if fetched := rr.Received(); idx.Fetched(rs) >= int64(len(data))/2 || fetched > idx.Fetched(rs) {
			t.Fatalf("%v: fetched %d of %d bytes (planned %d) in %d fetches", pick, fetched, len(data), idx.Fetched(rs), f.fetches)
		}
	}
}
