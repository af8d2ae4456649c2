package extract

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzReader checks that no input makes the reader panic or hang, and that reading
// rows through Read, WriteTo or skipping gives the same entries.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"SELECT 1;\n",
		"COPY a (x) FROM stdin;\n1\n\\.\n",
		"COPY a (x) FROM stdin;\n\\.",
		"CREATE TABLE \"a;\nb\" (x text DEFAULT E'\\';');\n",
		"CREATE FUNCTION f() AS $x$ ; $x$;\n",
		"/* /* */ ; */ SELECT 1; -- ;\n",
		"\\restrict k\n-- PostgreSQL database dump complete\n\\unrestrict k\n",
		"\\! id\n",
		"-- Name: a; b; Type: TABLE; Schema: s; Owner: o\nCREATE TABLE s.a (x int);\n",
		"-- Name: t; Type: TABLE; Schema: public; Owner: o\nCREATE TABLE public.t (x s.ty DEFAULT s.f());\n-- Name: f(); Type: FUNCTION; Schema: s; Owner: -\nCREATE FUNCTION s.f() AS $$ s.g() $$;\nCOPY public.t (x) FROM stdin;\n1\n\\.\n-- Name: t tr; Type: TRIGGER; Schema: public; Owner: -\nCREATE TRIGGER tr AFTER INSERT ON public.t EXECUTE FUNCTION s.f();\n",
	} {
		f.Add(s)
	}
	if files, _ := filepath.Glob("testdata/*.sql"); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
				f.Add(string(b))
			}
		}
	}
	f.Fuzz(func(t *testing.T, dump string) {
		a, errA := render(t, strings.NewReader(dump))
		b, errB := render(t, iotest.OneByteReader(strings.NewReader(dump)))
		if a != b || (errA == nil) != (errB == nil) {
			t.Fatalf("one-byte reads differ:\n%s\n%v\n---\n%s\n%v", a, errA, b, errB)
		}
		rd := NewReader(strings.NewReader(dump))
		for {
			e, err := rd.Next()
			if err != nil {
				break
			}
			if e.Kind == KindCopy && len(dump)%2 == 0 {
				_, _ = e.Rows.WriteTo(io.Discard)
			}
		}
		_, _ = Inventory(strings.NewReader(dump))
		sel := Select(NewReader(strings.NewReader(dump)), []QualifiedName{{Schema: "public", Name: "t"}})
		for {
			if _, err := sel.Next(); err != nil {
				break
			}
		}
	})
}
