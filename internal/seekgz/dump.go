package seekgz

// DumpEntry is what DumpIndexer needs of one entry of a plain pg_dump (the dump
// reader's extract.Entry, which this package does not import, so that the
// portal can read indexes without linking the dump reader).
type DumpEntry struct {
	Offset       int64 // where the entry starts in the plain dump
	AfterTrailer bool  // the entry follows the completion trailer
	Copy         bool  // a COPY (TABLE DATA) entry
	Schema, Name string
}

// DumpIndexer feeds a Builder from the entries of a plain pg_dump as the dump
// reader hands them over: a mark at the start of every TABLE DATA entry and at
// the entry after it (the start of post-data after the last one), and a span
// from each COPY entry to the next entry. A COPY entry the dump ends with, or
// that only \unrestrict follows, gets no span: what follows it (the completion
// trailer) must never be skipped.
type DumpIndexer struct {
	B       *Builder
	open    bool
	schema  string
	name    string
	start   int64
	entries int
}

// Entry takes the next entry of the dump.
func (d *DumpIndexer) Entry(e DumpEntry) {
	d.entries++
	if d.open && !e.AfterTrailer {
		d.B.AddSpan(d.schema, d.name, d.start, e.Offset)
		d.B.Mark(e.Offset)
	}
	d.open = false
	if e.Copy {
		d.B.Mark(e.Offset)
		d.open, d.schema, d.name, d.start = true, e.Schema, e.Name, e.Offset
	}
}
