package snapshots

import (
	"cmp"
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/pgident"
	"github.com/restoreportal/portal/internal/seekgz"
)

// OpenDumpParallel is OpenDump, except that a full restore (no tables) of a
// snapshot with a usable access index reads the dump in parts (OpenParted):
// restore.Apply then inflates the large tables' data from their checkpoints
// on several readers at once. Without a usable index it reads the dump as one
// stream, as OpenDump does, and logs why.
func OpenDumpParallel(ctx context.Context, d Deps, s Snapshot, src *objstore.Reader, tables []pgident.QualifiedName,
	onChanged func(context.Context, ToVerify)) (*Dump, error) {
	if len(tables) > 0 {
		return OpenDump(ctx, d, s, src, tables, onChanged)
	}
	idx, err := LoadIndex(ctx, d, s)
	if err != nil {
		d.log().Info("full restore reads the snapshot as one stream", "snapshot_id", s.ID, "key", s.Key, "reason", err.Error())
		return OpenDump(ctx, d, s, src, nil, onChanged)
	}
	return OpenParted(ctx, d, s, src, idx, seekgz.DefaultMinPart, onChanged)
}

// OpenParted opens snapshot s for a full restore through its access index idx
// (checked: LoadIndex): the returned Dump's stream is the dump less the data
// of tables of at least minPart uncompressed bytes, read from src and ranged
// GETs, and its Parts (restore.Parted) open each such table's data from its
// checkpoint with a ranged GET of its own, pinned to the verified version and
// resumable. A dump with no such table is read as one stream.
func OpenParted(ctx context.Context, d Deps, s Snapshot, src *objstore.Reader, idx *seekgz.Index, minPart int64,
	onChanged func(context.Context, ToVerify)) (*Dump, error) {
	main, spans := idx.Split(minPart)
	if len(spans) == 0 {
		return OpenDump(ctx, d, s, src, nil, onChanged)
	}
	opts := verifiedOptions(ctx, d, s, onChanged)
	p := &partedReader{src: src}
	ranged := func(ctx context.Context, start, end int64) (io.ReadCloser, error) {
		r, err := objstore.NewRangeReader(ctx, d.S3, d.Bucket, s.Key, start, end, opts)
		if err == nil {
			p.track(r)
		}
		return r, err
	}
	dump := &Dump{planned: idx.Fetched(main), src: src}
	fetchMain := func(start, end int64) (io.ReadCloser, error) {
		if start == 0 && src.Offset() == 0 {
			dump.readers = append(dump.readers, src)
			return limitedCloser{io.LimitReader(src, end), src}, nil
		}
		return ranged(ctx, start, end)
	}
	for _, pc := range largestPieces(idx, spans, d.SplitTables) {
		dump.planned += idx.Fetched(pc.Ranges()[:1])
		p.parts = append(p.parts, seekgz.Part{
			Table: pgident.QualifiedName{Schema: pc.Schema, Name: pc.Name},
			Bytes: pc.Bytes(),
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				// Never src: it serves the main stream only.
				return idx.OpenPiece(pc, func(start, end int64) (io.ReadCloser, error) {
					r, err := ranged(ctx, start, end)
					if err != nil {
						return nil, err
					}
					return countingCloser{r, &p.received}, nil
				})
			},
		})
	}
	dump.rr = idx.Open(main, fetchMain)
	p.Reader = dump.rr
	dump.Reader = p
	d.log().Info("full restore reads the snapshot in parts through the access index", "snapshot_id", s.ID,
		"parts", len(spans), "main_ranges", len(main), "compressed_bytes", dump.planned, "of", s.Size)
	return dump, nil
}

// Parts is the tables' data a dump opened by OpenParted leaves out of its
// stream (restore.Parted); nil for any other.
func (d *Dump) Parts() []seekgz.Part {
	if p, ok := d.Reader.(*partedReader); ok {
		return p.parts
	}
	return nil
}

// PartsResumed counts the ranged GETs the reads of a dump opened in parts
// (its parts' and its main stream's own) issued after broken or stalled
// connections; Close adds them to the whole-object reader's Resumed.
func (d *Dump) PartsResumed() int {
	p, ok := d.Reader.(*partedReader)
	if !ok {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.readers {
		n += r.Resumed
	}
	return n
}

// closeParts adds, once, the resumes of the ranged GETs of a dump read in
// parts to those of the whole-object reader src, which callers count (the
// restore metrics): by Close every read is over.
func (d *Dump) closeParts() {
	p, ok := d.Reader.(*partedReader)
	if !ok || p.closed {
		return
	}
	p.closed = true
	p.src.Resumed += d.PartsResumed()
}

// partedReader is the main stream of a dump read in parts.
type partedReader struct {
	io.Reader
	parts    []seekgz.Part
	src      *objstore.Reader
	closed   bool
	mu       sync.Mutex
	readers  []*objstore.Reader // every ranged GET, of parts and of the main stream
	received atomic.Int64       // compressed bytes the parts' fetches delivered
}

// partsReceived is the compressed bytes the parts' reads have received.
func (d *Dump) partsReceived() int64 {
	if p, ok := d.Reader.(*partedReader); ok {
		return p.received.Load()
	}
	return 0
}

// countingCloser counts the bytes read through it into n.
type countingCloser struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingCloser) Read(b []byte) (int, error) {
	k, err := c.ReadCloser.Read(b)
	c.n.Add(int64(k))
	return k, err
}

// largestPieces is the parts of a full restore: each large table's data span
// (Split), those of at least split bytes in pieces (0: none), largest first.
// Off by default: a table in pieces loses COPY FREEZE and its dump order, and
// scripts/bench-parallel.sh measured its keys, indexes and foreign keys then
// taking far longer than the pieces saved (P/P1 1.55 on pgbench at scale 22).
func largestPieces(idx *seekgz.Index, spans []seekgz.Span, split int64) []seekgz.Piece {
	var out []seekgz.Piece
	for _, sp := range spans {
		if split <= 0 {
			out = append(out, seekgz.Piece{Span: sp, Of: 1, From: sp.Start, To: sp.End})
			continue
		}
		out = append(out, idx.Pieces(sp, split, seekgz.DefaultPiece)...)
	}
	slices.SortStableFunc(out, func(a, b seekgz.Piece) int { return cmp.Compare(b.Bytes(), a.Bytes()) })
	return out
}

func (p *partedReader) track(r *objstore.Reader) {
	p.mu.Lock()
	p.readers = append(p.readers, r)
	p.mu.Unlock()
}
