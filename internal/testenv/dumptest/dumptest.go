// Package dumptest reads plain dumps into entries a test can compare: the
// seekable gzip reader's tests and verification's tests both check that a
// stream read through the access index parses to the entries of the whole
// dump less the other tables' data.
package dumptest

import (
	"io"
	"testing"

	"github.com/restoreportal/portal/internal/extract"
)

// Entry is what a test compares of an extract.Entry: all but its offsets,
// with the rows read whole.
type Entry struct {
	Kind            extract.Kind
	Phase           extract.Phase
	Type, Name, SQL string
	Table           extract.QualifiedName
	Rows            string
	AfterTrailer    bool
	Command, Arg    string
}

// View is e as an Entry whose rows are rows.
func View(e *extract.Entry, rows string) Entry {
	return Entry{Kind: e.Kind, Phase: e.Phase, Type: e.Type, Name: e.Name, SQL: e.SQL, Table: e.Table,
		Rows: rows, AfterTrailer: e.AfterTrailer, Command: e.Command, Arg: e.Arg}
}

// Each parses the plain dump r, calling fn with each entry (its rows unread:
// fn may read them), and returns whether the dump's trailer was seen. A parse
// error fails t, prefixed with what (when not empty).
func Each(t testing.TB, what string, r io.Reader, fn func(e *extract.Entry)) bool {
	t.Helper()
	rd := extract.NewReader(r)
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return rd.TrailerSeen()
		}
		if err != nil {
			if what != "" {
				t.Fatalf("%s: %v", what, err)
			}
			t.Fatal(err)
		}
		fn(&e)
	}
}

// Entries parses the plain dump r into its entries, keeping those for which
// keep is true (nil: all) with their rows read whole, and returns whether
// the trailer was seen.
func Entries(t testing.TB, r io.Reader, keep func(e *extract.Entry) bool) ([]Entry, bool) {
	t.Helper()
	var out []Entry
	trailer := Each(t, "", r, func(e *extract.Entry) {
		if keep != nil && !keep(e) {
			return
		}
		out = append(out, View(e, Rows(t, e)))
	})
	return out, trailer
}

// Rows reads e's rows whole ("" for an entry without rows).
func Rows(t testing.TB, e *extract.Entry) string {
	t.Helper()
	if e.Rows == nil {
		return ""
	}
	b, err := io.ReadAll(e.Rows)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
