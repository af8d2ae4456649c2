package seekgz

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
)

// Range is an extent of uncompressed bytes, End exclusive.
type Range struct{ Start, End int64 }

// DefaultMinSkip is the least run of unwanted table data worth a new ranged read.
const DefaultMinSkip = 8 << 20

// Keep plans a partial read: the whole dump except runs of adjacent spans that
// want rejects and that are at least minSkip bytes long.
func (idx *Index) Keep(want func(Span) bool, minSkip int64) []Range {
	var out []Range
	pos := int64(0)
	for i := 0; i < len(idx.Spans); {
		if want(idx.Spans[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(idx.Spans) && idx.Spans[j].Start == idx.Spans[j-1].End && !want(idx.Spans[j]) {
			j++
		}
		start, end := idx.Spans[i].Start, idx.Spans[j-1].End
		if end-start >= minSkip {
			if start > pos {
				out = append(out, Range{pos, start})
			}
			pos = end
		}
		i = j
	}
	if pos < idx.Length {
		out = append(out, Range{pos, idx.Length})
	}
	return out
}

// Fetch opens the compressed bytes [start, end) of the object the index is of.
type Fetch func(start, end int64) (io.ReadCloser, error)

// plan says where the read of r starts and ends in the compressed object.
func (idx *Index) plan(r Range) (cp *Checkpoint, start, end int64) {
	end = idx.Size
	if r.End < idx.Length {
		i, _ := slices.BinarySearchFunc(idx.Blocks, r.End, func(b Boundary, x int64) int { return cmp.Compare(b.Out, x) })
		if i < len(idx.Blocks) {
			end = min((idx.Blocks[i].Bit+7)/8, idx.Size)
		}
	}
	if i := before(idx.Checkpoints, r.Start); i >= 0 && r.Start > 0 {
		cp = &idx.Checkpoints[i]
		start = cp.Bit / 8
	}
	return cp, start, end
}

// Fetched is the sum of the compressed spans a plan of ranges reads.
func (idx *Index) Fetched(rs []Range) int64 {
	var n int64
	for _, r := range rs {
		_, s, e := idx.plan(r)
		n += e - s
	}
	return n
}

// RangeReader delivers the uncompressed bytes of ranges, one after the other,
// each inflated from its checkpoint out of one fetch.
type RangeReader struct {
	idx    *Index
	ranges []Range
	fetch  Fetch
	src    io.ReadCloser
	cur    io.Reader
	left   int64
	err    error

	received atomic.Int64 // compressed bytes received from fetches
}

// Received is how many compressed bytes the fetches have delivered so far. It
// is safe to call while another goroutine reads.
func (rr *RangeReader) Received() int64 { return rr.received.Load() }

// Open returns a reader of ranges (sorted, not overlapping) of idx's object.
func (idx *Index) Open(ranges []Range, fetch Fetch) *RangeReader {
	return &RangeReader{idx: idx, ranges: ranges, fetch: fetch}
}

type countingSource struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingSource) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (rr *RangeReader) next() error {
	r := rr.ranges[0]
	rr.ranges = rr.ranges[1:]
	cp, start, end := rr.idx.plan(r)
	src, err := rr.fetch(start, end)
	if err != nil {
		return err
	}
	rr.src = src
	in := countingSource{src, &rr.received}
	var z *Reader
	skip := r.Start
	if cp == nil {
		if z, err = NewReader(in); err != nil {
			return fmt.Errorf("range from byte 0: %w", err)
		}
	} else {
		z = NewReaderAt(in, cp.Boundary, cp.Window)
		skip -= cp.Out
	}
	if n, err := io.CopyN(io.Discard, z, skip); err != nil {
		return fmt.Errorf("skipping %d bytes to offset %d (read %d): %w", skip, r.Start, n, err)
	}
	rr.cur, rr.left = z, r.End-r.Start
	return nil
}

// Read delivers the next bytes of the stitched ranges.
func (rr *RangeReader) Read(p []byte) (int, error) {
	for rr.left == 0 {
		if rr.err != nil {
			return 0, rr.err
		}
		rr.closeSrc()
		if len(rr.ranges) == 0 {
			rr.err = io.EOF
			return 0, io.EOF
		}
		if rr.err = rr.next(); rr.err != nil {
			return 0, rr.err
		}
	}
	n, err := rr.cur.Read(p[:min(int64(len(p)), rr.left)])
	rr.left -= int64(n)
	if errors.Is(err, io.EOF) && rr.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		rr.err = err
		return n, err
	}
	return n, nil
}

func (rr *RangeReader) closeSrc() {
	if rr.src != nil {
		rr.src.Close()
		rr.src = nil
	}
}

// Close closes the open fetch.
func (rr *RangeReader) Close() error {
	rr.closeSrc()
	return nil
}
