package extract

import (
	"fmt"
	"io"
)

// Kind says what an Entry holds.
type Kind int

const (
	// KindStatement is one SQL statement.
	KindStatement Kind = iota + 1
	// KindCopy is a COPY ... FROM stdin statement and its rows.
	KindCopy
	// KindMeta is a psql meta-command (\restrict, \unrestrict or \connect).
	KindMeta
)

func (k Kind) String() string {
	switch k {
	case KindStatement:
		return "statement"
	case KindCopy:
		return "copy"
	case KindMeta:
		return "meta"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Phase is the section of the dump an entry belongs to, as pg_restore names them.
type Phase int

const (
	// PreData holds schemas, types, functions, tables and everything created before data.
	PreData Phase = iota + 1
	// Data holds table data (COPY) and sequence values.
	Data
	// PostData holds constraints, indexes, triggers, policies and materialized view refreshes.
	PostData
)

func (p Phase) String() string {
	switch p {
	case PreData:
		return "pre-data"
	case Data:
		return "data"
	case PostData:
		return "post-data"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Entry is one item of a dump. For KindCopy, Rows streams the row data and
// must be read to io.EOF (or left alone: Next skips it) before the next call to Next.
type Entry struct {
	Kind  Kind
	Phase Phase
	// Line is the 1-based line number where the statement or meta-command starts.
	Line int
	// Offset is the byte offset in the uncompressed dump where the entry starts:
	// its "-- Name:" or "-- Data for Name:" header line when one came after the
	// previous entry, else its first line. A ranged read that starts here reads
	// the entry as the whole dump shows it.
	Offset int64
	// AfterTrailer is true when the entry comes after the "-- PostgreSQL database dump
	// complete" trailer, where pg_dump writes nothing but \unrestrict (see CheckEntry).
	AfterTrailer bool

	// Name, Type and Schema come from the "-- Name: ...; Type: ...; Schema: ..." header
	// preceding the entry, when there is one. They are hints: the SQL is the truth.
	Name   string
	Type   string
	Schema string

	// SQL is the statement text including its terminating semicolon. For KindCopy it
	// is the COPY statement; for KindMeta the whole meta-command line without newline.
	SQL string

	// Table is the COPY target, Columns its column list, both as parsed (unquoted).
	Table   QualifiedName
	Columns []string
	// Rows streams the COPY text-format payload exactly as in the dump, without the
	// terminating "\." line.
	Rows *Rows

	// Command and Arg describe a meta-command: Command is "restrict", "unrestrict" or
	// "connect"; Arg is the rest of the line.
	Command string
	Arg     string
}

// FirstLine returns the first line of the entry's SQL, for error messages.
func (e *Entry) FirstLine() string {
	s := e.SQL
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			s = s[:i]
			break
		}
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// Describe names the entry for messages: its header when present, else its first line.
func (e *Entry) Describe() string {
	if e.Type != "" {
		return fmt.Sprintf("%s %q (line %d)", e.Type, e.Name, e.Line)
	}
	return fmt.Sprintf("line %d", e.Line)
}

var _ io.Reader = (*Rows)(nil)
