package extract

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
)

// ErrForbiddenMeta is wrapped by the error Next returns for a psql meta-command other
// than \restrict, \unrestrict and \connect: a dump is data, not a script.
var ErrForbiddenMeta = errors.New("psql meta-command not allowed in a dump")

const readBufSize = 1 << 20

// Reader splits a plain-format pg_dump stream into entries. It is not safe for
// concurrent use.
type Reader struct {
	src  countingReader
	br   *bufio.Reader
	line int // lines consumed so far

	phase   Phase
	hdr     header
	rows    *Rows
	err     error
	pending []byte // text after a statement's ';' on the same line

	lineStart  int64 // uncompressed offset of the line readLine returned last
	pendingOff int64 // offset of pending
	hdrOff     int64 // offset of the latest header comment line
	hdrNew     bool  // a header comment came after the previous entry

	lineBuf []byte
	stmtBuf []byte

	trailer       bool
	serverVersion string
	dumpVersion   string
}

type header struct {
	name, typ, schema string
}

// NewReader returns a Reader of the uncompressed plain-format dump r.
func NewReader(r io.Reader) *Reader {
	rd := &Reader{phase: PreData}
	rd.src.r = r
	rd.br = bufio.NewReaderSize(&rd.src, readBufSize)
	return rd
}

// TrailerSeen reports whether the "-- PostgreSQL database dump complete" trailer has
// been read. Only meaningful once Next has returned io.EOF.
func (r *Reader) TrailerSeen() bool { return r.trailer }

// ServerVersion is the "Dumped from database version" header, once read.
func (r *Reader) ServerVersion() string { return r.serverVersion }

// DumpVersion is the "Dumped by pg_dump version" header, once read.
func (r *Reader) DumpVersion() string { return r.dumpVersion }

// BytesRead is the number of bytes consumed from the underlying reader so far
// (including read-ahead of up to 1 MiB). Unlike other methods, it may be called
// from another goroutine, for progress reports.
func (r *Reader) BytesRead() int64 { return r.src.n.Load() }

// Line is the number of lines consumed so far.
func (r *Reader) Line() int { return r.line }

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// readLine returns the next line including its newline, valid until the next read.
func (r *Reader) readLine() ([]byte, error) {
	r.lineStart = r.src.n.Load() - int64(r.br.Buffered())
	line, err := r.br.ReadSlice('\n')
	if err == nil {
		return line, nil
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		r.lineBuf = append(r.lineBuf[:0], line...)
		for {
			line, err = r.br.ReadSlice('\n')
			r.lineBuf = append(r.lineBuf, line...)
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		line = r.lineBuf
	}
	if err == io.EOF {
		if len(line) == 0 {
			return nil, io.EOF
		}
		return line, nil
	}
	return line, err
}

func isBlank(b []byte) bool {
	return len(bytes.TrimSpace(b)) == 0
}

// Next returns the next entry, or io.EOF at the end of the dump. An unread COPY
// block of the previous entry is skipped.
func (r *Reader) Next() (Entry, error) {
	if r.err != nil {
		return Entry{}, r.err
	}
	if r.rows != nil && !r.rows.done {
		if err := r.rows.skip(); err != nil {
			r.err = err
			return Entry{}, err
		}
	}
	r.rows = nil
	e, err := r.next()
	if err != nil {
		r.err = err
	}
	return e, err
}

func (r *Reader) next() (Entry, error) {
	for {
		var line []byte
		if r.pending != nil {
			line, r.pending = r.pending, nil
			r.lineStart = r.pendingOff
		} else {
			var err error
			line, err = r.readLine()
			if err != nil {
				if err == io.EOF {
					return Entry{}, io.EOF
				}
				return Entry{}, fmt.Errorf("line %d: %w", r.line+1, err)
			}
			r.line++
		}
		t := bytes.TrimSpace(line)
		switch {
		case len(t) == 0:
			continue
		case bytes.HasPrefix(t, []byte("--")):
			r.comment(string(t))
			continue
		}
		off := r.lineStart
		if r.hdrNew {
			off, r.hdrNew = r.hdrOff, false
		}
		var e Entry
		var err error
		if t[0] == '\\' {
			e, err = r.meta(string(t))
		} else {
			e, err = r.statement(line)
		}
		e.Offset = off
		return e, err
	}
}

var postDataTypes = map[string]bool{
	"CONSTRAINT": true, "CHECK CONSTRAINT": true, "FK CONSTRAINT": true, "INDEX": true,
	"INDEX ATTACH": true, "TRIGGER": true, "EVENT TRIGGER": true, "RULE": true,
	"POLICY": true, "ROW SECURITY": true, "STATISTICS": true, "PUBLICATION": true,
	"PUBLICATION TABLE": true, "PUBLICATION TABLES IN SCHEMA": true, "SUBSCRIPTION": true,
	"SUBSCRIPTION TABLE": true, "MATERIALIZED VIEW DATA": true, "DEFAULT ACL": false,
}

func (r *Reader) comment(t string) {
	switch {
	case strings.HasPrefix(t, "-- Name: "):
		r.setHeader(parseHeader(t[len("-- Name: "):]))
		r.hdrOff, r.hdrNew = r.lineStart, true
	case strings.HasPrefix(t, "-- Data for Name: "):
		r.setHeader(parseHeader(t[len("-- Data for Name: "):]))
		r.hdrOff, r.hdrNew = r.lineStart, true
	case t == "-- PostgreSQL database dump complete":
		r.trailer = true
	case strings.HasPrefix(t, "-- Dumped from database version "):
		r.serverVersion = strings.TrimPrefix(t, "-- Dumped from database version ")
	case strings.HasPrefix(t, "-- Dumped by pg_dump version "):
		r.dumpVersion = strings.TrimPrefix(t, "-- Dumped by pg_dump version ")
	}
}

func (r *Reader) setHeader(h header) {
	r.hdr = h
	switch {
	case postDataTypes[h.typ]:
		r.phase = PostData
	case h.typ == "TABLE DATA" || h.typ == "SEQUENCE SET" || h.typ == "BLOBS" || h.typ == "LARGE OBJECT DATA":
		if r.phase == PreData {
			r.phase = Data
		}
	}
}

// parseHeader parses "X; Type: T; Schema: S; Owner: O[; Tablespace: TS]" from the right,
// because names may contain "; ".
func parseHeader(s string) header {
	if i := strings.LastIndex(s, "; Tablespace: "); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, "; Owner: "); i >= 0 {
		s = s[:i]
	}
	var h header
	if i := strings.LastIndex(s, "; Schema: "); i >= 0 {
		h.schema = s[i+len("; Schema: "):]
		if h.schema == "-" {
			h.schema = ""
		}
		s = s[:i]
	}
	if i := strings.LastIndex(s, "; Type: "); i >= 0 {
		h.typ = s[i+len("; Type: "):]
		s = s[:i]
	}
	h.name = s
	return h
}

func (r *Reader) meta(t string) (Entry, error) {
	cmd, arg, _ := strings.Cut(t[1:], " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "restrict", "unrestrict", "connect", "c":
		if cmd == "c" {
			cmd = "connect"
		}
		return Entry{Kind: KindMeta, Phase: r.phase, Line: r.line, SQL: t, Command: cmd, Arg: arg,
			AfterTrailer: r.trailer, Name: r.hdr.name, Type: r.hdr.typ, Schema: r.hdr.schema}, nil
	}
	return Entry{}, fmt.Errorf("line %d: \\%s: %w", r.line, cmd, ErrForbiddenMeta)
}

func (r *Reader) statement(line []byte) (Entry, error) {
	start := r.line
	var lx lexer
	sb := r.stmtBuf[:0]
	for {
		end, done := lx.scan(line)
		if done {
			sb = append(sb, line[:end]...)
			if rest := line[end:]; !isBlank(rest) && !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("--")) {
				r.pending = append([]byte(nil), rest...)
				r.pendingOff = r.lineStart + int64(end)
			}
			break
		}
		sb = append(sb, line...)
		var err error
		line, err = r.readLine()
		if err != nil {
			if err == io.EOF {
				return Entry{}, fmt.Errorf("line %d: statement not terminated at end of dump", start)
			}
			return Entry{}, fmt.Errorf("line %d: %w", r.line+1, err)
		}
		r.line++
	}
	r.stmtBuf = sb
	sql := string(bytes.TrimSpace(sb))
	e := Entry{Kind: KindStatement, Phase: r.phase, Line: start, SQL: sql,
		AfterTrailer: r.trailer, Name: r.hdr.name, Type: r.hdr.typ, Schema: r.hdr.schema}
	if i, ok := keyword(sql, 0, "COPY"); ok {
		table, cols, ok := parseCopy(sql, i)
		if !ok {
			if rf := ClassifyStatement(sql); rf != nil {
				return Entry{}, &RefusedError{Line: start + strings.Count(sql[:rf.Offset], "\n"), What: rf.What}
			}
			return Entry{}, fmt.Errorf("line %d: unsupported COPY statement: %s", start, e.FirstLine())
		}
		if r.phase == PreData {
			r.phase = Data
			e.Phase = Data
		}
		e.Kind = KindCopy
		e.Table = table
		e.Columns = cols
		e.Rows = &Rows{r: r, atLineStart: true, start: start}
		r.rows = e.Rows
	}
	return e, nil
}

// parseCopy parses `table [(cols)] FROM stdin;` at sql[i:].
func parseCopy(sql string, i int) (QualifiedName, []string, bool) {
	q, j := parseQualified(sql, i)
	if j == i || q.Name == "" {
		return q, nil, false
	}
	var cols []string
	j = skipSpace(sql, j)
	if j < len(sql) && sql[j] == '(' {
		j++
		for {
			c, k := parseIdent(sql, j)
			if k == j {
				return q, nil, false
			}
			cols = append(cols, c)
			k = skipSpace(sql, k)
			if k < len(sql) && sql[k] == ',' {
				j = k + 1
				continue
			}
			if k < len(sql) && sql[k] == ')' {
				j = k + 1
				break
			}
			return q, nil, false
		}
	}
	j, ok := keyword(sql, j, "FROM", "stdin")
	if !ok {
		return q, nil, false
	}
	j = skipSpace(sql, j)
	if j >= len(sql) || sql[j] != ';' || skipSpace(sql, j+1) != len(sql) {
		return q, nil, false
	}
	return q, cols, true
}
