package restore_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/testenv"
)

// pieces is split with the large tables' spans of at least minSplit bytes in
// pieces of size, each read through seekgz's OpenPiece; wrap, if set, wraps
// every piece's reader.
func (d indexed) pieces(minPart, minSplit, size int64, wrap func(io.Reader) io.Reader) (io.Reader, []restore.Part, map[string]int) {
	main, spans := d.idx.Split(minPart)
	var parts []restore.Part
	count := map[string]int{}
	for _, sp := range seekgz.Largest(spans) {
		for _, pc := range d.idx.Pieces(sp, minSplit, size) {
			count[sp.Name]++
			parts = append(parts, restore.Part{Table: extract.QualifiedName{Schema: sp.Schema, Name: sp.Name}, Bytes: pc.Bytes(),
				Open: func(context.Context) (io.ReadCloser, error) {
					rc, err := d.idx.OpenPiece(pc, d.fetch)
					if err != nil || wrap == nil {
						return rc, err
					}
					return struct {
						io.Reader
						io.Closer
					}{wrap(rc), rc}, nil
				}})
		}
	}
	return d.idx.Open(main, d.fetch), parts, count
}

// TestApplyInPiecesEqualsSequential: with the largest tables read in pieces
// (table long, ~11 MB, in pieces of 1 MiB and more; table wide's 9 MB row
// across several cuts), loaded by several COPYs at once, on random numbers
// of readers and connections, pieces taken in random order and trickled in,
// the restored database is the source's (pg_dump of both, each table's rows
// sorted: pieces load at once, so rows are stored in another order), and each
// table's rows are counted once.
func TestApplyInPiecesEqualsSequential(t *testing.T) {
	t.Parallel()
	d, want := partsDump(t)
	rng := seededRand(t, 2)
	for i := range 3 {
		readers, jobs := 1+rng.IntN(4), 1+rng.IntN(3)
		size := int64(1<<20 + rng.IntN(2<<20))
		slow := rng.IntN(2)
		wrap := func(r io.Reader) io.Reader {
			if slow == 1 {
				return iotest.HalfReader(r)
			}
			return r
		}
		main, parts, count := d.pieces(256<<10, 2<<20, size, wrap)
		if count["long"] < 3 || count["wide"] < 2 {
			t.Fatalf("pieces per table: %v", count)
		}
		dst, res, err := applyShuffled(t, rng, main, parts, restore.Options{Jobs: jobs, Readers: readers})
		if err != nil {
			t.Fatalf("run %d (readers %d, jobs %d, pieces %v of %d): %v", i, readers, jobs, count, size, err)
		}
		if got := sortedRows(normalize(pgDump(t, dst))); got != sortedRows(want) {
			t.Fatalf("run %d (readers %d, jobs %d, pieces %v of %d): differs:\n%s", i, readers, jobs, count, size, testenv.DiffLines(sortedRows(want), got))
		}
		for _, tr := range res.Tables {
			if tr.Table.Name == "long" && (tr.CopiedRows != 150000 || tr.DumpRows != 150000) {
				t.Errorf("run %d: long copied %d rows, dump %d, want 150000", i, tr.CopiedRows, tr.DumpRows)
			}
		}
	}
}

// sortedRows sorts the rows of each COPY block of a plain dump: pieces of a
// table load at once, so its rows are stored (and dumped) in another order.
func sortedRows(dump string) string {
	lines := strings.SplitAfter(dump, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "COPY ") {
			continue
		}
		j := i + 1
		for j < len(lines) && lines[j] != "\\.\n" {
			j++
		}
		slices.Sort(lines[i+1 : j])
		i = j
	}
	return strings.Join(lines, "")
}

// TestApplyInPiecesRefusesACutInsideARow: pieces whose boundary falls inside a
// row (what a wrong cut would make) fail the restore: the half rows do not
// parse as rows of the table.
func TestApplyInPiecesRefusesACutInsideARow(t *testing.T) {
	t.Parallel()
	const pre = "CREATE TABLE public.a (id int NOT NULL, v text NOT NULL);\n"
	const main = pre + "--\n-- PostgreSQL database dump complete\n--\n\n"
	hdr := "--\n-- Data for Name: a; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.a (id, v) FROM stdin;\n"
	part := func(body string) restore.Part {
		return restore.Part{Table: extract.QualifiedName{Schema: "public", Name: "a"},
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(hdr + body + "\\.\n")), nil
			}}
	}
	// Rows "1\tone", "2\ttwo", "3\tthree" cut inside "2\ttwo".
	parts := []restore.Part{part("1\tone\n2\tt\n"), part("wo\n3\tthree\n")}
	dst := testenv.NewDatabase(t)
	_, err := apply(t, main, dst, restore.Options{Jobs: 2, Readers: 2, Parts: parts})
	if err == nil || !strings.Contains(err.Error(), "public.a") {
		t.Fatalf("a cut inside a row: %v", err)
	}
}
