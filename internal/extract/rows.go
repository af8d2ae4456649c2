package extract

import (
	"bytes"
	"fmt"
	"io"
)

// Rows streams the payload of one COPY block: the row lines exactly as in the dump,
// newline-terminated, without the closing "\." line. It reads straight from the
// Reader's buffer, so it is only valid until the next call to Next.
type Rows struct {
	r           *Reader
	start       int
	atLineStart bool
	done        bool
	err         error
	rows        int64
	size        int64
}

// Count returns the number of rows read so far; final once Read returned io.EOF.
func (c *Rows) Count() int64 { return c.rows }

// Size returns the number of payload bytes read so far.
func (c *Rows) Size() int64 { return c.size }

// Done reports whether the terminating "\." line has been read.
func (c *Rows) Done() bool { return c.done }

var nlTerm = []byte("\n\\.")

// chunk returns the next piece of payload, a slice of the Reader's buffer valid until
// the next read, at most max bytes, or io.EOF after the terminator. The caller must
// call consume(len(chunk)).
func (c *Rows) chunk(limit int) ([]byte, error) {
	if c.done {
		return nil, io.EOF
	}
	if c.err != nil {
		return nil, c.err
	}
	br := c.r.br
	if c.atLineStart {
		b, err := br.Peek(4)
		if len(b) >= 2 && b[0] == '\\' && b[1] == '.' {
			rest := b[2:]
			n := -1
			switch {
			case len(rest) == 0 && err != nil:
				n = 2
			case len(rest) > 0 && rest[0] == '\n':
				n = 3
			case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
				n = 4
			case len(rest) == 1 && rest[0] == '\r' && err != nil:
				n = 3
			}
			if n > 0 {
				_, _ = br.Discard(n)
				c.r.line++
				c.done = true
				return nil, io.EOF
			}
		}
		if len(b) == 0 {
			return nil, c.fail(err)
		}
	}
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			return nil, c.fail(err)
		}
	}
	buf, _ := br.Peek(br.Buffered())
	if len(buf) > limit {
		buf = buf[:limit]
	}
	n := len(buf)
	if i := bytes.Index(buf, nlTerm); i >= 0 {
		n = i + 1
	} else if k := max(len(buf)-2, 0); len(buf) > 0 {
		// Do not end a chunk inside a possible terminator: stop after a late newline.
		if j := bytes.LastIndexByte(buf[k:], '\n'); j >= 0 {
			n = k + j + 1
		}
	}
	return buf[:n], nil
}

func (c *Rows) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	c.err = fmt.Errorf("line %d: COPY data not terminated by \\.: %w", c.start, err)
	return c.err
}

func (c *Rows) consume(b []byte) {
	nl := bytes.Count(b, []byte{'\n'})
	c.rows += int64(nl)
	c.r.line += nl
	c.size += int64(len(b))
	c.atLineStart = b[len(b)-1] == '\n'
	_, _ = c.r.br.Discard(len(b))
}

// Read implements io.Reader.
func (c *Rows) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := c.chunk(len(p))
	if err != nil {
		return 0, err
	}
	n := copy(p, b)
	c.consume(b)
	return n, nil
}

// WriteTo implements io.WriterTo, writing the payload without an intermediate copy.
func (c *Rows) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		b, err := c.chunk(readBufSize)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, werr := w.Write(b)
		total += int64(n)
		c.consume(b)
		if werr != nil {
			return total, werr
		}
	}
}

func (c *Rows) skip() error {
	for {
		b, err := c.chunk(readBufSize)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		c.consume(b)
	}
}
