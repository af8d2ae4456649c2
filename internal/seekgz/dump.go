package seekgz

import (
	"io"

	"github.com/restoreportal/portal/internal/extract"
)

// DumpIndexer feeds a Builder from the entries of a plain pg_dump as
// extract.InventoryFunc hands them over: a mark at the start of every TABLE DATA
// entry and at the entry after it (the start of post-data after the last one),
// and a span from each COPY entry to the next entry. A COPY entry the dump ends
// with, or that only \unrestrict follows, gets no span: what follows it (the
// completion trailer) must never be skipped.
type DumpIndexer struct {
	B       *Builder
	open    bool
	table   extract.QualifiedName
	start   int64
	entries int
}

// Entry takes the next entry of the dump.
func (d *DumpIndexer) Entry(e *extract.Entry) {
	d.entries++
	if d.open && !e.AfterTrailer {
		d.B.AddSpan(d.table.Schema, d.table.Name, d.start, e.Offset)
		d.B.Mark(e.Offset)
	}
	d.open = false
	if e.Kind == extract.KindCopy {
		d.B.Mark(e.Offset)
		d.open, d.table, d.start = true, e.Table, e.Offset
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// IndexDump reads the whole gzipped dump src (size bytes, version etag) and
// returns its inventory and access index. Errors are those of NewReader and
// extract.InventoryFunc.
func IndexDump(src io.Reader, etag string, size int64) (*Index, *extract.InventoryResult, error) {
	z, err := NewReader(src)
	if err != nil {
		return nil, nil, err
	}
	b := NewBuilder(z)
	plain := &countingReader{r: z}
	d := &DumpIndexer{B: b}
	inv, err := extract.InventoryFunc(plain, d.Entry)
	if err != nil {
		return nil, nil, err
	}
	if _, err := io.Copy(io.Discard, plain); err != nil { // the trailer check of the last member
		return nil, nil, err
	}
	return b.Index(etag, size, plain.n), inv, nil
}
