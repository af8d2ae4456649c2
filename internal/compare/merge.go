package compare

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
)

// keyKind is how the merge orders a key column: the order the query sorted
// it in.
type keyKind int

const (
	kindBytes keyKind = iota // text form, "C" collation: bytewise
	kindInt                  // int2, int4, int8: as integers
	kindUUID                 // lower-case hex of fixed length: bytewise
)

func kindOf(typ string) keyKind {
	switch typ {
	case "int2", "int4", "int8":
		return kindInt
	case "uuid":
		return kindUUID
	}
	return kindBytes
}

// stream is one side's COPY output, read line by line without copying: a
// line stays valid until the side's next call of next.
type stream struct {
	name   string
	br     *bufio.Reader
	pr     *io.PipeReader
	errc   chan error
	done   bool
	long   []byte   // a line longer than the reader's buffer
	fields [][]byte // the key fields (unescaped), then the rest of the line: the row or its hash
	unesc  [][]byte // per key field: its unescape buffer
	prev   [][]byte // the previous key, to check the order
	rows   int64
}

func openStream(ctx context.Context, name string, conn *pgx.Conn, query string, nfields int) *stream {
	s := &stream{name: name, fields: make([][]byte, nfields), unesc: make([][]byte, nfields), prev: make([][]byte, nfields)}
	if query == "" {
		s.done = true
		return s
	}
	pr, pw := io.Pipe()
	s.pr, s.errc = pr, make(chan error, 1)
	s.br = bufio.NewReaderSize(pr, 256<<10)
	go func() {
		// COPY hands over one row per write: batch them, so the pipe
		// switches goroutines once per 256 KiB, not once per row.
		bw := bufio.NewWriterSize(pw, 256<<10)
		_, err := conn.PgConn().CopyTo(ctx, bw, query)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		s.errc <- err
	}()
	return s
}

// close stops the side's COPY (if still running) and returns its error.
func (s *stream) close() error {
	if s.pr == nil {
		return nil
	}
	s.pr.CloseWithError(errors.New("comparison ended"))
	err := <-s.errc
	s.pr = nil
	return err
}

// next reads the next row into fields; done at the end.
func (s *stream) next() error {
	if s.done {
		return nil
	}
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.long = append(s.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.br.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if err == io.EOF && len(line) == 0 {
		s.done = true
		if cerr := <-s.errc; cerr != nil {
			return fmt.Errorf("%s side: %w", s.name, cerr)
		}
		s.pr = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s side: %w", s.name, err)
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	n := len(s.fields)
	for i := 0; i < n; i++ {
		var f []byte
		if i == n-1 {
			f, line = line, nil
		} else {
			j := bytes.IndexByte(line, '\t')
			if j < 0 {
				return fmt.Errorf("%s side: row %d has %d fields, want %d", s.name, s.rows+1, i+1, n)
			}
			f, line = line[:j], line[j+1:]
		}
		if i < n-1 && bytes.IndexByte(f, '\\') >= 0 {
			s.unesc[i] = unescape(s.unesc[i][:0], f)
			f = s.unesc[i]
		}
		s.fields[i] = f
	}
	s.rows++
	return nil
}

// controlEscapes maps the letter of a COPY text escape to its control byte.
var controlEscapes = [256]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}

// unescape decodes a COPY text field: \b \f \n \r \t \v \\ and octal or
// \x escapes.
func unescape(dst, f []byte) []byte {
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 == len(f) {
			dst = append(dst, c)
			continue
		}
		i++
		switch c = f[i]; c {
		case 'b', 'f', 'n', 'r', 't', 'v':
			dst = append(dst, controlEscapes[c])
		case 'x':
			v, k := 0, 0
			for ; k < 2 && i+1 < len(f) && isHex(f[i+1]); k++ {
				i++
				v = v*16 + hexVal(f[i])
			}
			if k == 0 {
				dst = append(dst, 'x')
			} else {
				dst = append(dst, byte(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(c - '0')
			for k := 0; k < 2 && i+1 < len(f) && f[i+1] >= '0' && f[i+1] <= '7'; k++ {
				i++
				v = v*8 + int(f[i]-'0')
			}
			dst = append(dst, byte(v))
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// parseInt reads a decimal integer of COPY text (int2/4/8 always fit).
func parseInt(b []byte) int64 {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var v int64
	for _, c := range b {
		v = v*10 + int64(c-'0')
	}
	if neg {
		return -v
	}
	return v
}

// compareKeys orders two keys as the query sorted them.
func compareKeys(kinds []keyKind, a, b [][]byte) int {
	for i, k := range kinds {
		var c int
		if k == kindInt {
			x, y := parseInt(a[i]), parseInt(b[i])
			switch {
			case x < y:
				c = -1
			case x > y:
				c = 1
			}
		} else {
			c = bytes.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// checkOrder fails when a side's rows are not in ascending key order (the
// merge would then be wrong), and remembers the key.
func (s *stream) checkOrder(kinds []keyKind, unique bool) error {
	nk := len(kinds)
	if s.rows > 1 {
		c := compareKeys(kinds, s.prev[:nk], s.fields[:nk])
		if c > 0 || (unique && c == 0) {
			return fmt.Errorf("%s side: rows are not in key order at row %d; the comparison cannot be trusted", s.name, s.rows)
		}
	}
	for i := 0; i < nk; i++ {
		s.prev[i] = append(s.prev[i][:0], s.fields[i]...)
	}
	return nil
}

func keyText(names []string, fields [][]byte) string {
	if len(names) == 0 {
		return "row md5 " + string(fields[0])
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + string(fields[i])
	}
	return strings.Join(parts, ", ")
}

// merge streams both sides and counts the differences into res. An empty
// query means the side has no such table: every row of the other side
// differs.
func merge(ctx context.Context, live *pgx.Conn, lq string, snap *pgx.Conn, sq string, kinds []keyKind, key []string, samples int, res *Result) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nk := len(kinds)
	nf := nk + 1
	if res.WholeRow {
		nf = 1 // the hash is the key
	}
	a := openStream(ctx, "live", live, lq, nf)
	b := openStream(ctx, "snapshot", snap, sq, nf)
	defer func() {
		aerr, berr := a.close(), b.close()
		if err == nil {
			err = errors.Join(aerr, berr)
		}
	}()
	adv := func(s *stream) error {
		if err := s.next(); err != nil {
			return err
		}
		if s.done {
			return nil
		}
		return s.checkOrder(kinds, !res.WholeRow)
	}
	if err := adv(a); err != nil {
		return err
	}
	if err := adv(b); err != nil {
		return err
	}
	for !a.done || !b.done {
		c := 0
		switch {
		case b.done:
			c = -1
		case a.done:
			c = 1
		default:
			c = compareKeys(kinds, a.fields[:nk], b.fields[:nk])
		}
		switch {
		case c < 0:
			res.OnlyLive.add(func() string { return keyText(key, a.fields) }, samples)
			err = adv(a)
		case c > 0:
			res.OnlySnapshot.add(func() string { return keyText(key, b.fields) }, samples)
			err = adv(b)
		default:
			if !res.WholeRow && !bytes.Equal(a.fields[nk], b.fields[nk]) {
				res.Differ.add(func() string { return keyText(key, a.fields) }, samples)
			} else {
				res.Same++
			}
			if err = adv(a); err == nil {
				err = adv(b)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
