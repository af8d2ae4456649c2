package extract

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden reads real pg_dump 15 output (made by testdata/gen.sh) and compares the
// entries and the inventory with the golden files.
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden dumps in testdata (run testdata/gen.sh): %v", err)
	}
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := render(t, strings.NewReader(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			inv, err := Inventory(strings.NewReader(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			var sb strings.Builder
			for _, line := range strings.SplitAfter(got, "\n") {
				if len(line) > 300 {
					line = fmt.Sprintf("%s...(%d bytes)\n", line[:300], len(line))
				}
				sb.WriteString(line)
			}
			fmt.Fprintf(&sb, "inventory: server %q pg_dump %q trailer=%v entries=%d\n", inv.ServerVersion, inv.DumpVersion, inv.TrailerSeen, inv.Entries)
			for _, tb := range inv.Tables {
				fmt.Fprintf(&sb, "  %s rows=%d bytes=%d data=%v\n", tb.Table, tb.Rows, tb.Bytes, tb.HasData)
			}
			golden := strings.TrimSuffix(p, ".sql") + ".golden"
			if !matchesGolden(t, golden, sb.String()) {
				t.Errorf("%s differs from %s; run go test -run Golden -update and review the diff", p, golden)
			}
		})
	}
}

// TestGoldenSelect selects tables from the full golden dump.
func TestGoldenSelect(t *testing.T) {
	t.Parallel()
	for name, tables := range map[string][]QualifiedName{
		"select_buckets":   {{Schema: "storage", Name: "buckets"}},
		"select_events":    {{Schema: "public", Name: "User Events"}},
		"select_documents": {{Schema: "ai", Name: "documents"}, {Schema: "auth", Name: "users"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sel := Select(NewReader(openTestdata(t, "full.sql")), tables)
			var sb strings.Builder
			for {
				e, err := sel.Next()
				if err != nil {
					if err.Error() == "EOF" {
						break
					}
					t.Fatal(err)
				}
				line := fmt.Sprintf("%d %s %s [%s|%s|%s] %q\n", e.Line, e.Phase, e.Kind, e.Type, e.Schema, e.Name, e.FirstLine())
				if e.Kind == KindCopy {
					line = fmt.Sprintf("%d %s copy %s\n", e.Line, e.Phase, e.Table)
				}
				sb.WriteString(line)
			}
			fmt.Fprintf(&sb, "dropped foreign keys: %q\n", sel.DroppedForeignKeys())
			golden := "testdata/" + name + ".golden"
			if !matchesGolden(t, golden, sb.String()) {
				t.Errorf("selection differs from %s:\n%s", golden, sb.String())
			}
		})
	}
}

func TestSelectUnknownTable(t *testing.T) {
	t.Parallel()
	_, err := Select(NewReader(openTestdata(t, "full.sql")), []QualifiedName{{Schema: "storage", Name: "bucket"}}).Next()
	if err == nil || !strings.Contains(err.Error(), "unknown table storage.bucket (did you mean storage.buckets") {
		t.Fatalf("err = %v", err)
	}
}

// openTestdata opens testdata/name for the test, closed when it ends.
func openTestdata(tb testing.TB, name string) *os.File {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// eachEntry calls fn with every entry next returns until io.EOF; any other
// error fails the test, named by what.
func eachEntry(tb testing.TB, what string, next func() (Entry, error), fn func(Entry)) {
	tb.Helper()
	for {
		e, err := next()
		if err == io.EOF {
			return
		}
		if err != nil {
			tb.Fatalf("%s: %v", what, err)
		}
		fn(e)
	}
}

// matchesGolden tells whether got is the golden file's text; with -update
// it rewrites the file instead.
func matchesGolden(t *testing.T, golden, got string) bool {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return true
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	return got == string(want)
}
