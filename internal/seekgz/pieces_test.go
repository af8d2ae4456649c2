package seekgz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/extract"
)

// hugeDump is a dump whose table huge has about mb MiB of rows of varied
// length (escaped tabs and newlines among them, and one row of 400 KB, longer
// than a cut's slack), then a small table and post-data. It returns the plain
// dump and huge's rows.
func hugeDump(mb int, seed uint64) (plain []byte, rows string) {
	rng := rand.New(rand.NewPCG(seed, 9))
	var b, r bytes.Buffer
	b.WriteString("--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n\n")
	b.WriteString("--\n-- Name: huge; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.huge (id integer, body text);\n\n")
	b.WriteString("--\n-- Name: tail; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.tail (id integer);\n\n")
	b.WriteString("--\n-- Data for Name: huge; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.huge (id, body) FROM stdin;\n")
	for i := 0; r.Len() < mb<<20; i++ {
		n := rng.IntN(300)
		if i == 2000 {
			n = 400 << 10
		}
		fmt.Fprintf(&r, "%d\t%s\\t%x\\n%s\n", i, strings.Repeat(string(rune('a'+i%26)), n), rng.Uint64(), strings.Repeat("z", rng.IntN(40)))
	}
	b.Write(r.Bytes())
	b.WriteString("\\.\n\n\n")
	b.WriteString("--\n-- Data for Name: tail; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.tail (id) FROM stdin;\n1\n\\.\n\n\n")
	b.WriteString("--\n-- Name: huge huge_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.huge ADD CONSTRAINT huge_pkey PRIMARY KEY (id);\n\n")
	b.WriteString("--\n-- PostgreSQL database dump complete\n--\n\n")
	return b.Bytes(), r.String()
}

// pieceRows parses one piece as the restore engine does: it must be exactly
// one COPY entry of table, with sql as its statement; it returns the rows.
func pieceRows(t *testing.T, r io.Reader, table, sql string) (string, error) {
	t.Helper()
	rd := extract.NewReader(r)
	var rows []byte
	n := 0
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if e.Kind != extract.KindCopy || e.Table.Name != table || e.SQL != sql || n > 0 {
			return "", fmt.Errorf("entry %d: %v %s %q", n, e.Kind, e.Table, e.FirstLine())
		}
		n++
		if rows, err = io.ReadAll(e.Rows); err != nil {
			return "", err
		}
	}
	if n != 1 {
		return "", fmt.Errorf("%d entries", n)
	}
	return string(rows), nil
}

// hugeFixture is a hugeDump gzipped and indexed with checkpoints close
// together: huge's rows, COPY statement and span, and a fetcher of the
// gzipped bytes.
type hugeFixture struct {
	plain, data []byte
	rows, sql   string
	idx         *Index
	span        Span
	f           *fetcher
}

func newHuge(t *testing.T, mb int, seed uint64) hugeFixture {
	t.Helper()
	h := hugeFixture{}
	h.plain, h.rows = hugeDump(mb, seed)
	h.data = gz(t, 6, h.plain)
	h.idx = indexOf(t, h.data, 96<<10, 16<<10)
	h.sql = copyStatement(t, h.plain, "huge")
	h.f = &fetcher{data: h.data}
	for _, sp := range h.idx.Spans {
		if sp.Name == "huge" {
			h.span = sp
			return h
		}
	}
	t.Fatal("no span of huge")
	return h
}

// TestPiecesRoundTrip: a large table's data read in pieces from checkpoints,
// cut at line ends, gives each of its rows once, in order, whatever the piece
// size; every piece is one whole COPY entry of the table.
func TestPiecesRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHuge(t, 6, 1)
	idx, sp, want, f, rows := h.idx, h.span, h.sql, h.f, h.rows
	rng := rand.New(rand.NewPCG(2, 3))
	for run := range 8 {
		size := int64(64<<10 + rng.IntN(2<<20))
		ps := idx.Pieces(sp, 0, size)
		if len(ps) < 2 {
			t.Fatalf("size %d: %d pieces", size, len(ps))
		}
		var got strings.Builder
		for _, p := range ps {
			rc, err := idx.OpenPiece(p, f.fetch)
			if err != nil {
				t.Fatal(err)
			}
			r, err := pieceRows(t, rc, "huge", want)
			rc.Close()
			if err != nil {
				t.Fatalf("run %d, piece %d of %d (%d-%d): %v", run, p.Index, p.Of, p.From, p.To, err)
			}
			got.WriteString(r)
		}
		if got.String() != rows {
			t.Fatalf("run %d: %d pieces of %d give %d bytes of rows, want %d", run, len(ps), size, got.Len(), len(rows))
		}
	}
	if one := idx.Pieces(sp, sp.End-sp.Start+1, 1<<20); len(one) != 1 || one[0].From != sp.Start || one[0].To != sp.End {
		t.Fatalf("a span under minSplit: %+v", one)
	}
}

// copyStatement is the COPY statement of table in plain.
func copyStatement(t *testing.T, plain []byte, table string) string {
	t.Helper()
	rd := extract.NewReader(bytes.NewReader(plain))
	for {
		e, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == extract.KindCopy && e.Table.Name == table {
			return e.SQL
		}
	}
}

// TestPieceCutsAtEveryOffset: the cut logic alone, on plain bytes, with cuts at
// every offset of a small COPY block's rows (at a row's first byte, its last,
// its line end, inside the end marker's neighbourhood is excluded by the
// margin): the pieces' rows are the block's rows, each once.
func TestPieceCutsAtEveryOffset(t *testing.T) {
	t.Parallel()
	head := "--\n-- Data for Name: s; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.s (id, v) FROM stdin;\n"
	rows := "1\ta\n22\tbb\n\n333\t\\N\n4\tcccc\\ndd\n5\te\n"
	block := head + rows + "\\.\n\n\n"
	sp := Span{Schema: "public", Name: "s", Start: 0, End: int64(len(block))}
	open := func(p Piece) io.Reader {
		start := p.From
		if p.Index == 0 {
			start = 0
		}
		var h []byte
		if p.Index > 0 {
			h = []byte(head)
		}
		return openPiece(p, h, io.NopCloser(strings.NewReader(block[start:])))
	}
	for a := len(head); a < len(head)+len(rows); a++ {
		for b := a; b < len(head)+len(rows); b++ {
			ps := []Piece{{Span: sp, Index: 0, Of: 3, From: 0, To: int64(a)},
				{Span: sp, Index: 1, Of: 3, From: int64(a), To: int64(b)},
				{Span: sp, Index: 2, Of: 3, From: int64(b), To: sp.End}}
			var got strings.Builder
			for _, p := range ps {
				r, err := pieceRows(t, open(p), "s", "COPY public.s (id, v) FROM stdin;")
				if err != nil {
					t.Fatalf("cuts %d, %d: piece %d: %v", a, b, p.Index, err)
				}
				got.WriteString(r)
			}
			if got.String() != rows {
				t.Fatalf("cuts %d, %d: rows %q, want %q", a, b, got.String(), rows)
			}
		}
	}
}

// TestPiecesOfAForgedIndexFailClosed: pieces read through an index that lies
// (a span shifted off its header, a span ending inside a row or running into
// the next entry, a cut inside the COPY header) never make a clean single COPY
// entry of the table: reading them fails, or they parse as something the
// restore engine refuses (not exactly one COPY block of the table).
func TestPiecesOfAForgedIndexFailClosed(t *testing.T) {
	t.Parallel()
	h := newHuge(t, 4, 4)
	plain, idx, sp, sql, f := h.plain, h.idx, h.span, h.sql, h.f
	tailAt := int64(bytes.Index(plain, []byte("-- Data for Name: tail")))
	rowMid := sp.End - 20 // inside the last row
	for _, c := range []struct {
		name string
		span Span
	}{
		{"start off the header", Span{Schema: "public", Name: "huge", Start: sp.Start + 7, End: sp.End}},
		{"end inside a row", Span{Schema: "public", Name: "huge", Start: sp.Start, End: rowMid}},
		{"end in the next entry", Span{Schema: "public", Name: "huge", Start: sp.Start, End: tailAt + 200}},
	} {
		ps := idx.Pieces(c.span, 0, 1<<20)
		if len(ps) < 2 {
			t.Fatalf("%s: %d pieces", c.name, len(ps))
		}
		failed := false
		for _, p := range ps {
			rc, err := idx.OpenPiece(p, f.fetch)
			if err == nil {
				_, err = pieceRows(t, rc, "huge", sql)
				rc.Close()
			}
			if err != nil {
				failed = true
			}
		}
		if !failed {
			t.Errorf("%s: every piece read as a clean COPY of huge", c.name)
		}
	}
	// A cut inside the COPY header.
	p := Piece{Span: sp, Index: 1, Of: 2, From: sp.Start + 30, To: sp.End}
	if _, err := idx.OpenPiece(p, f.fetch); !errors.Is(err, ErrBadPiece) {
		t.Errorf("a cut inside the header: %v", err)
	}
}
