package seekgz

import (
	"cmp"
	"slices"
)

// Defaults of Builder.
const (
	DefaultEvery = 32 << 20 // a checkpoint at least every 32 MiB of output
	DefaultNear  = 4 << 20  // a mark this close after a checkpoint needs no new one
	// recentFor is how far behind the decoder a mark may come (the dump reader's
	// read-ahead) and still find the window of the block boundary before it.
	recentFor = 16 << 20
	// blockEvery and recentEvery thin what is kept of block boundaries: the
	// index lists one per 256 KiB of output (a ranged fetch ends at most that
	// far past what it needs), and windows are kept for one per 64 KiB.
	blockEvery  = 256 << 10
	recentEvery = 64 << 10
)

// Builder collects the Index of an object while a Reader reads all of it. The
// caller marks the uncompressed offsets a ranged read will start at (Mark) and
// the spans of table data (AddSpan); marks may lag the decoder by its reader's
// read-ahead. Checkpoints go at the last block boundary before each mark (unless
// one is already within Near before it) and at least every Every bytes.
type Builder struct {
	Every, Near int64

	r      *Reader
	blocks []Boundary
	cps    []Checkpoint // sorted by Out
	recent []Checkpoint // windows of the latest block boundaries, oldest first
	free   [][]byte
	spans  []Span
	last   int64 // Out of the latest interval checkpoint
}

// NewBuilder hooks a Builder to r, which must start at the object's first byte.
func NewBuilder(r *Reader) *Builder {
	b := &Builder{Every: DefaultEvery, Near: DefaultNear, r: r}
	r.OnBlock = b.block
	return b
}

func (b *Builder) block(bd Boundary, w []byte) {
	if n := len(b.blocks); n == 0 || bd.Out-b.blocks[n-1].Out >= blockEvery {
		b.blocks = append(b.blocks, bd)
	}
	if bd.Out-b.last >= b.Every {
		b.last = bd.Out
		b.insert(Checkpoint{Boundary: bd, Window: slices.Clone(w)})
	}
	if n := len(b.recent); n > 0 && bd.Out-b.recent[n-1].Out < recentEvery && len(w) > 0 {
		return // a member's first block (no window) is always kept: it costs nothing
	}
	i := 0
	for i < len(b.recent) && bd.Out-b.recent[i].Out > recentFor {
		b.free = append(b.free, b.recent[i].Window[:0])
		i++
	}
	b.recent = b.recent[i:]
	var buf []byte
	if n := len(b.free); n > 0 {
		buf, b.free = b.free[n-1], b.free[:n-1]
	}
	b.recent = append(b.recent, Checkpoint{Boundary: bd, Window: append(buf, w...)})
}

func (b *Builder) insert(c Checkpoint) {
	i, _ := slices.BinarySearchFunc(b.cps, c.Out, func(c Checkpoint, out int64) int { return cmp.Compare(c.Out, out) })
	b.cps = slices.Insert(b.cps, i, c)
}

// before returns the index in cs of the last checkpoint with Out <= x, or -1.
func before(cs []Checkpoint, x int64) int {
	i, _ := slices.BinarySearchFunc(cs, x+1, func(c Checkpoint, out int64) int { return cmp.Compare(c.Out, out) })
	return i - 1
}

// Mark asks for a checkpoint at or shortly before uncompressed offset x.
func (b *Builder) Mark(x int64) {
	have := int64(-1)
	if i := before(b.cps, x); i >= 0 {
		have = b.cps[i].Out
		if x-have <= b.Near {
			return
		}
	}
	i := before(b.recent, x)
	if i < 0 || b.recent[i].Out <= have || b.recent[i].Out == 0 {
		return // the block is too long ago; a read starts at the earlier checkpoint
	}
	c := b.recent[i]
	b.insert(Checkpoint{Boundary: c.Boundary, Window: slices.Clone(c.Window)})
}

// AddSpan records the uncompressed extent of table schema.name's data entry.
func (b *Builder) AddSpan(schema, name string, start, end int64) {
	b.spans = append(b.spans, Span{Schema: schema, Name: name, Start: start, End: end})
}

// Index returns what was collected, for the object version etag of size bytes
// whose uncompressed length is length.
func (b *Builder) Index(etag string, size, length int64) *Index {
	return &Index{ETag: etag, Size: size, Length: length, Blocks: b.blocks, Checkpoints: b.cps, Spans: b.spans}
}
