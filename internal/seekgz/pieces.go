package seekgz

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Defaults of Pieces.
const (
	// DefaultMinSplit is the least table data span worth reading in pieces on
	// several readers (PORTAL_SPLIT_TABLES_MIB's floor): below it the table is
	// one part (and keeps COPY FREEZE).
	DefaultMinSplit = 64 << 20
	// DefaultPiece is the least uncompressed size of a piece.
	DefaultPiece = 32 << 20
	// pieceMargin keeps cuts this far inside a span: past the COPY header,
	// before the end-of-data marker.
	pieceMargin = 1 << 20
	// maxCopyHeader bounds the entry header (comment, COPY statement) a piece
	// reads from the span's start.
	maxCopyHeader = 1 << 20
	// cutSlack is how far past a cut a piece's first fetch reaches for the end
	// of the row there; a longer row costs a second fetch.
	cutSlack = 256 << 10
)

// ErrBadPiece is wrapped when a piece's bytes are not what its index said: no
// COPY header at the span's start, a cut inside it, no line end after a cut.
var ErrBadPiece = errors.New("seekgz: a piece of table data is not where the index puts it")

// Piece is one of the pieces a large table's data span is read in, each
// applied as a COPY of its own. Cuts are at checkpoints; a piece ends with the
// row that runs across the next cut (at its line end) and the next piece
// starts after it, so the pieces' rows are the table's rows, each once.
type Piece struct {
	Span
	Index, Of int
	// From and To are the cuts (uncompressed offsets of checkpoints): piece 0
	// starts at Span.Start, the last ends at Span.End.
	From, To int64
}

// Pieces plans the read of table data span sp in pieces: one unless it is at
// least minSplit bytes, else cut at checkpoints at least size bytes apart,
// none within 1 MiB of its ends, the last piece at least size/2.
func (idx *Index) Pieces(sp Span, minSplit, size int64) []Piece {
	var cuts []int64
	if sp.End-sp.Start >= minSplit && size > 0 {
		last := sp.Start
		for _, c := range idx.Checkpoints {
			if c.Out < sp.Start+pieceMargin || c.Out > sp.End-pieceMargin || c.Out-last < size || sp.End-c.Out < size/2 {
				continue
			}
			cuts = append(cuts, c.Out)
			last = c.Out
		}
	}
	out := make([]Piece, len(cuts)+1)
	from := sp.Start
	for i := range out {
		to := sp.End
		if i < len(cuts) {
			to = cuts[i]
		}
		out[i] = Piece{Span: sp, Index: i, Of: len(out), From: from, To: to}
		from = to
	}
	return out
}

// Bytes is about how many uncompressed bytes p holds.
func (p Piece) Bytes() int64 { return p.To - p.From }

// Ranges is what a read of p fetches: from its start to its cut, then a
// little past the cut for the row that runs across it, then the rest of the
// span should that row be longer (read only that far).
func (p Piece) Ranges() []Range {
	start := p.From
	if p.Index == 0 {
		start = p.Start
	}
	if p.Index == p.Of-1 {
		return []Range{{start, p.End}}
	}
	rs := []Range{{start, p.To}}
	if slack := min(p.To+cutSlack, p.End); slack > p.To {
		rs = append(rs, Range{p.To, slack})
		if p.End > slack {
			rs = append(rs, Range{slack, p.End})
		}
	}
	return rs
}

// OpenPiece returns the bytes of piece p as one whole TABLE DATA entry of its
// own: the span's header comment and COPY statement (read from the span's
// start for a piece other than the first), the piece's rows, and the
// end-of-data marker. The restore engine parses and gates it like any entry.
func (idx *Index) OpenPiece(p Piece, fetch Fetch) (io.ReadCloser, error) {
	if p.Of <= 1 {
		return idx.Open([]Range{{p.Start, p.End}}, fetch), nil
	}
	var head []byte
	if p.Index > 0 {
		var err error
		if head, err = idx.copyHeader(p, fetch); err != nil {
			return nil, err
		}
	}
	return openPiece(p, head, idx.Open(p.Ranges(), fetch)), nil
}

// openPiece is OpenPiece given the entry header (none for piece 0) and body,
// the bytes of p's ranges.
func openPiece(p Piece, head []byte, body io.ReadCloser) io.ReadCloser {
	cr := &cutReader{head: head, to: p.To, pos: p.Start, skip: p.Index > 0}
	if p.Index > 0 {
		cr.pos = p.From
	}
	if p.Index == p.Of-1 {
		cr.to = -1
	} else {
		cr.tail = []byte("\\.\n")
	}
	cr.rc, cr.br = body, bufio.NewReaderSize(body, 64<<10)
	return cr
}

// copyHeader reads the span's entry header, through its COPY line, and checks
// the piece's cut comes after it.
func (idx *Index) copyHeader(p Piece, fetch Fetch) ([]byte, error) {
	rr := idx.Open([]Range{{p.Start, min(p.End, p.Start+maxCopyHeader)}}, fetch)
	defer rr.Close()
	br := bufio.NewReaderSize(rr, 64<<10)
	var head []byte
	for {
		line, err := br.ReadBytes('\n')
		head = append(head, line...)
		if err != nil {
			return nil, fmt.Errorf("%w: no COPY statement in the first %d bytes of %s.%s's data: %v", ErrBadPiece, len(head), p.Schema, p.Name, err)
		}
		if bytes.HasPrefix(line, []byte("COPY ")) {
			break
		}
	}
	if p.Start+int64(len(head)) > p.From {
		return nil, fmt.Errorf("%w: the cut at %d is inside %s.%s's COPY header", ErrBadPiece, p.From, p.Schema, p.Name)
	}
	return head, nil
}

// cutReader delivers head, then the bytes of br (which start at uncompressed
// offset pos) less, when skip, everything through the first line end, up to
// and including the first line end at or after to (-1: to EOF), then tail.
type cutReader struct {
	head, tail []byte
	rc         io.Closer
	br         *bufio.Reader
	pos, to    int64
	skip       bool
	done       bool   // the cut is reached: only tail is left
	pending    []byte // bytes read from br not delivered yet
	err        error
}

func (c *cutReader) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	for c.skip {
		line, err := c.br.ReadSlice('\n')
		c.pos += int64(len(line))
		if err == nil {
			c.skip = false
			// The line end skipped is the previous piece's last: at or past the
			// cut, this piece is empty.
			if c.to >= 0 && c.pos-1 >= c.to {
				c.done = true
			}
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			c.err = fmt.Errorf("%w: no line end after the cut at %d: %v", ErrBadPiece, c.pos, eofUnexpected(err))
			return 0, c.err
		}
	}
	if c.done {
		if len(c.tail) > 0 {
			n := copy(p, c.tail)
			c.tail = c.tail[n:]
			return n, nil
		}
		return 0, io.EOF
	}
	{
		var err error
		switch {
		case c.to < 0:
			n, err := c.br.Read(p)
			c.pos += int64(n)
			return n, err
		case c.pos < c.to: // before the cut: up to it
			buf := p[:min(int64(len(p)), c.to-c.pos)]
			n, rerr := c.br.Read(buf)
			c.pos += int64(n)
			if rerr != nil {
				c.err = fmt.Errorf("%w: the data ends at %d, before the cut at %d: %v", ErrBadPiece, c.pos, c.to, eofUnexpected(rerr))
				if n == 0 {
					return 0, c.err
				}
			}
			return n, nil
		default: // at or past the cut: through the line end
			c.pending, err = c.br.ReadSlice('\n')
			c.pos += int64(len(c.pending))
			switch {
			case err == nil:
				c.done = true
			case errors.Is(err, bufio.ErrBufferFull):
			default:
				c.err = fmt.Errorf("%w: no line end after the cut at %d: %v", ErrBadPiece, c.to, eofUnexpected(err))
				if len(c.pending) == 0 {
					return 0, c.err
				}
			}
			c.pending = bytes.Clone(c.pending)
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func eofUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Close closes the fetch.
func (c *cutReader) Close() error { return c.rc.Close() }
