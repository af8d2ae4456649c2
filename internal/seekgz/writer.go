package seekgz

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"

	kgzip "github.com/klauspost/compress/gzip"
)

// Defaults of Writer.
const (
	// MemberMax is the most plain bytes one gzip member of a Writer holds.
	MemberMax = 32 << 20
	// memberMin is the least a member holds before a TABLE DATA header starts a
	// new one: many small tables share a member.
	memberMin = 1 << 20
)

var dataHeader = []byte("\n-- Data for Name: ")

// Writer gzips a plain pg_dump as a seekable file: a new gzip member at each
// TABLE DATA header line (once the member holds memberMin bytes) and at least
// every MemberMax bytes (at a line end when there is one), the members compressed
// on several cores at once and written in order. The result is an ordinary
// multi-member .sql.gz that gunzip reads whole, and every member start is a
// checkpoint with no window.
type Writer struct {
	w       io.Writer
	cur     *bytes.Buffer
	pending chan chan result
	done    chan struct{}
	err     error
	mu      sync.Mutex // guards err set by the output goroutine
	closed  bool
	max     int
	level   int
	members int
}

type result struct {
	b   *bytes.Buffer
	err error
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// NewWriter returns a Writer to w compressing at the default gzip level on up to
// workers cores at once (0: all of them).
func NewWriter(w io.Writer, workers int) *Writer {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	z := &Writer{w: w, cur: bufPool.Get().(*bytes.Buffer), pending: make(chan chan result, workers),
		done: make(chan struct{}), max: MemberMax, level: kgzip.DefaultCompression}
	z.cur.Reset()
	go z.output()
	return z
}

// output writes the compressed members in order.
func (z *Writer) output() {
	defer close(z.done)
	for ch := range z.pending {
		r := <-ch
		if r.err == nil && z.error() == nil {
			_, r.err = z.w.Write(r.b.Bytes())
		}
		if r.err != nil {
			z.setError(r.err)
		}
		r.b.Reset()
		bufPool.Put(r.b)
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
	plain := bufPool.Get().(*bytes.Buffer)
	plain.Reset()
	plain.Write(z.cur.Bytes()[:n])
	rest := z.cur.Bytes()[n:]
	next := bufPool.Get().(*bytes.Buffer)
	next.Reset()
	next.Write(rest)
	z.cur.Reset()
	bufPool.Put(z.cur)
	z.cur = next
	ch := make(chan result, 1)
	z.pending <- ch // blocks while workers members are in flight: bounded memory
	go func() {
		out := bufPool.Get().(*bytes.Buffer)
		out.Reset()
		zw, err := kgzip.NewWriterLevel(out, z.level)
		if err == nil {
			_, err = zw.Write(plain.Bytes())
		}
		if err == nil {
			err = zw.Close()
		}
		plain.Reset()
		bufPool.Put(plain)
		ch <- result{out, err}
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
	written := len(p)
	for len(p) > 0 {
		room := z.max - z.cur.Len()
		chunk := p[:min(len(p), room)]
		from := max(z.cur.Len()-len(dataHeader)+1, 0)
		z.cur.Write(chunk)
		p = p[len(chunk):]
		// A TABLE DATA header starts a new member once this one is big enough.
		for {
			buf := z.cur.Bytes()
			i := bytes.Index(buf[from:], dataHeader)
			if i < 0 {
				break
			}
			cut := from + i + 1
			if cut >= memberMin {
				z.flush(cut)
				from = 0
				continue
			}
			from = cut
		}
		if z.cur.Len() >= z.max {
			cut := bytes.LastIndexByte(z.cur.Bytes(), '\n') + 1
			if cut <= 0 {
				cut = z.cur.Len()
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
	z.flush(z.cur.Len()) // an empty input still makes one (empty) member

	close(z.pending)
	<-z.done
	return z.error()
}
