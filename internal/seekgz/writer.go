package seekgz

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	kgzip "github.com/klauspost/compress/gzip"
)

// Defaults of Writer.
const (
	// MemberMax is the most plain bytes one gzip member of a Writer holds.
	MemberMax = 32 << 20
	// DefaultMemory is the most bytes a Writer's buffers and compressors take
	// when WriterOptions.Memory is 0.
	DefaultMemory = 126 << 20
	// memberMin is the least a member holds before a TABLE DATA header starts a
	// new one: many small tables share a member. A tight budget lowers it to
	// half the member size.
	memberMin = 1 << 20
	// memberFloor is the smallest member a budget shrinks members to before it
	// takes away compressors; memberTiny the smallest at all.
	memberFloor = 1 << 20
	memberTiny  = 64 << 10
	// chunkSize is the unit of a member's compressed output.
	chunkSize = 256 << 10
	// compressorMemory is what one klauspost/compress gzip compressor at the
	// default level holds (measured: about 1 MiB), counted in the budget.
	compressorMemory = 1280 << 10
)

var dataHeader = []byte("\n-- Data for Name: ")

// WriterOptions tunes a Writer.
type WriterOptions struct {
	// Workers is how many members are compressed at once (0: one per core).
	Workers int
	// Memory bounds the Writer's memory (0: DefaultMemory): the member being
	// filled, every member in flight (its plain bytes until compressed, its
	// compressed bytes until written) and the compressors. Members are made
	// smaller (down to 1 MiB) and then fewer compressed at once to stay under it.
	Memory int64
}

// Writer gzips a plain pg_dump as a seekable file: a new gzip member at each
// TABLE DATA header line (once the member holds memberMin bytes) and at least
// every MemberMax bytes (at a line end when there is one), the members compressed
// on several cores at once and written in order. The result is an ordinary
// multi-member .sql.gz that gunzip reads whole, and every member start is a
// checkpoint with no window.
//
// Memory is bounded: at most Members() members are in flight (handed to a
// compressor and not yet written), each at most MemberSize() bytes, and every
// buffer is the Writer's own, reused, so what it allocates stays under
// WriterOptions.Memory however slowly w takes the output (Allocated, Peak).
type Writer struct {
	w       io.Writer
	cur     []byte
	pending chan *member  // members in order, for output
	slots   chan struct{} // one per member in flight
	done    chan struct{}
	err     error
	mu      sync.Mutex // guards err set by the output goroutine
	closed  bool
	max     int
	n       int
	level   int
	members int

	bmu    sync.Mutex // guards what follows: the Writer's buffers
	plain  [][]byte
	chunks [][]byte
	zws    []*kgzip.Writer
	alloc  int64 // bytes of buffers allocated (plain and compressed)
	inUse  int64 // of those, in use now
	peak   int64 // most inUse ever

	waits       atomic.Int64 // flushes that waited for a slot
	compressing atomic.Int32 // members being compressed now
}

type member struct {
	ready chan struct{} // closed when out and err are set
	out   [][]byte      // compressed, in chunks
	err   error
}

// NewWriter returns a Writer to w compressing at the default gzip level on up to
// workers cores at once (0: all of them), within DefaultMemory.
func NewWriter(w io.Writer, workers int) *Writer {
	return NewWriterOptions(w, WriterOptions{Workers: workers})
}

// NewWriterOptions returns a Writer to w tuned by o.
func NewWriterOptions(w io.Writer, o WriterOptions) *Writer {
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Memory <= 0 {
		o.Memory = DefaultMemory
	}
	n, size := plan(o.Memory, o.Workers)
	z := &Writer{w: w, pending: make(chan *member, n), slots: make(chan struct{}, n),
		done: make(chan struct{}), max: size, n: n, level: kgzip.DefaultCompression}
	go z.output()
	return z
}

// bound is the most a member of m plain bytes may take compressed (deflate's
// stored blocks add 5 bytes per 64 KiB; gzip's header and trailer 18).
func bound(m int64) int64 { return m + m>>12 + 4096 }

// cost is the most memory n members in flight of at most m bytes take, with
// the member being filled: plain and compressed bytes (whole chunks) and a
// compressor each.
func cost(n, m int64) int64 { return m + n*(m+bound(m)+chunkSize+compressorMemory) }

// plan picks how many members may be in flight and how big they may be within
// memory: workers of them as large as fit up to MemberMax; below memberFloor
// one fewer, down to one (and then smaller members, down to memberTiny).
func plan(memory int64, workers int) (n, size int) {
	for n := int64(workers); ; n-- {
		floor := int64(memberFloor)
		if n == 1 {
			floor = memberTiny
		}
		lo, hi := floor, int64(MemberMax)
		if cost(n, lo) > memory {
			if n > 1 {
				continue
			}
			return 1, memberTiny // less memory than any plan: the smallest one
		}
		for lo < hi { // the largest m in [lo, hi] with cost(n, m) <= memory
			m := (lo + hi + 1) / 2
			if cost(n, m) <= memory {
				lo = m
			} else {
				hi = m - 1
			}
		}
		return int(n), int(lo)
	}
}

// Members is the most members in flight at once; MemberSize the most plain
// bytes of one.
func (z *Writer) Members() int    { return z.n }
func (z *Writer) MemberSize() int { return z.max }

// Allocated is how many bytes of buffers the Writer has allocated (it reuses
// them); Peak the most of them in use at once. Neither counts the compressors'
// own state (about 1 MiB each, within the budget).
func (z *Writer) Allocated() int64 {
	z.bmu.Lock()
	defer z.bmu.Unlock()
	return z.alloc
}

func (z *Writer) Peak() int64 {
	z.bmu.Lock()
	defer z.bmu.Unlock()
	return z.peak
}

// Waits is how many times the Writer waited for a member in flight to be
// written before it could start the next: the output (the upload) was slower
// than the compressors.
func (z *Writer) Waits() int64 { return z.waits.Load() }

func (z *Writer) use(d int64) {
	z.inUse += d
	z.peak = max(z.peak, z.inUse)
}

func (z *Writer) getPlain() []byte { return z.getBuf(&z.plain, z.max) }

func (z *Writer) putPlain(b []byte) { z.putBufs(&z.plain, b) }

func (z *Writer) getChunk() []byte { return z.getBuf(&z.chunks, chunkSize) }

func (z *Writer) putChunks(bs [][]byte) { z.putBufs(&z.chunks, bs...) }

// getBuf takes a buffer from the free list (or makes one of capacity size)
// and counts it in use.
func (z *Writer) getBuf(free *[][]byte, size int) []byte {
	z.bmu.Lock()
	defer z.bmu.Unlock()
	var b []byte
	if k := len(*free); k > 0 {
		b, *free = (*free)[k-1], (*free)[:k-1]
	} else {
		b = make([]byte, 0, size)
		z.alloc += int64(cap(b))
	}
	z.use(int64(cap(b)))
	return b
}

// putBufs gives buffers back to the free list.
func (z *Writer) putBufs(free *[][]byte, bs ...[]byte) {
	z.bmu.Lock()
	defer z.bmu.Unlock()
	for _, b := range bs {
		z.use(-int64(cap(b)))
		*free = append(*free, b[:0])
	}
}

func (z *Writer) getCompressor(w io.Writer) (*kgzip.Writer, error) {
	z.bmu.Lock()
	if k := len(z.zws); k > 0 {
		zw := z.zws[k-1]
		z.zws = z.zws[:k-1]
		z.bmu.Unlock()
		zw.Reset(w)
		return zw, nil
	}
	z.bmu.Unlock()
	return kgzip.NewWriterLevel(w, z.level)
}

func (z *Writer) putCompressor(zw *kgzip.Writer) {
	z.bmu.Lock()
	defer z.bmu.Unlock()
	z.zws = append(z.zws, zw)
}

// chunked collects a member's compressed bytes in the Writer's chunks.
type chunked struct {
	z  *Writer
	bs [][]byte
}

func (c *chunked) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := len(c.bs)
		if k == 0 || len(c.bs[k-1]) == cap(c.bs[k-1]) {
			c.bs = append(c.bs, c.z.getChunk())
			k++
		}
		b := c.bs[k-1]
		m := min(len(p), cap(b)-len(b))
		c.bs[k-1] = append(b, p[:m]...)
		p = p[m:]
	}
	return n, nil
}

// output writes the compressed members in order and frees their slots.
func (z *Writer) output() {
	defer close(z.done)
	for m := range z.pending {
		<-m.ready
		err := m.err
		for _, b := range m.out {
			if err != nil || z.error() != nil {
				break
			}
			_, err = z.w.Write(b)
		}
		if err != nil {
			z.setError(err)
		}
		z.putChunks(m.out)
		<-z.slots
	}
}

func (z *Writer) error() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.err
}

func (z *Writer) setError(err error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.err == nil {
		z.err = err
	}
}

// flush hands the first n bytes of the current member to a compressor.
func (z *Writer) flush(n int) {
	if n == 0 && z.members > 0 {
		return
	}
	z.members++
	select {
	case z.slots <- struct{}{}:
	default:
		z.waits.Add(1)
		z.slots <- struct{}{} // blocks while z.n members are in flight: bounded memory
	}
	next := append(z.getPlain(), z.cur[n:]...)
	plain := z.cur[:n]
	z.cur = next
	m := &member{ready: make(chan struct{})}
	z.pending <- m // never blocks: as many places as slots
	z.compressing.Add(1)
	go func() {
		defer close(m.ready)
		defer z.compressing.Add(-1)
		c := &chunked{z: z}
		zw, err := z.getCompressor(c)
		if err == nil {
			_, err = zw.Write(plain)
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
			z.putCompressor(zw)
		}
		z.putPlain(plain)
		m.out, m.err = c.bs, err
	}()
}

// Write takes plain dump bytes.
func (z *Writer) Write(p []byte) (int, error) {
	if z.closed {
		return 0, errors.New("seekgz: write to a closed Writer")
	}
	if err := z.error(); err != nil {
		return 0, err
	}
	if z.cur == nil {
		z.cur = z.getPlain()
	}
	minCut := min(memberMin, z.max/2)
	written := len(p)
	for len(p) > 0 {
		room := z.max - len(z.cur)
		chunk := p[:min(len(p), room)]
		from := max(len(z.cur)-len(dataHeader)+1, 0)
		z.cur = append(z.cur, chunk...)
		p = p[len(chunk):]
		// A TABLE DATA header starts a new member once this one is big enough.
		for {
			i := bytes.Index(z.cur[from:], dataHeader)
			if i < 0 {
				break
			}
			cut := from + i + 1
			if cut >= minCut {
				z.flush(cut)
				from = 0
				continue
			}
			from = cut
		}
		if len(z.cur) >= z.max {
			cut := bytes.LastIndexByte(z.cur, '\n') + 1
			if cut <= 0 {
				cut = len(z.cur)
			}
			z.flush(cut)
		}
	}
	return written, nil
}

// Close compresses what is left, waits for every member to be written and
// returns the first error.
func (z *Writer) Close() error {
	if z.closed {
		return z.error()
	}
	z.closed = true
	if z.cur == nil {
		z.cur = z.getPlain()
	}
	z.flush(len(z.cur)) // an empty input still makes one (empty) member
	z.putPlain(z.cur)
	z.cur = nil

	close(z.pending)
	<-z.done
	return z.error()
}
