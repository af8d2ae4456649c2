package extract

import "testing"

// refusedPrefixes are statements the gate must refuse whatever follows them.
var refusedPrefixes = []string{
	"ALTER SYSTEM SET x = 1",
	"COPY t TO PROGRAM 'id'",
	"copy (select 1) to program 'id'",
	"SET ROLE postgres",
	"SET SESSION AUTHORIZATION postgres",
	"CREATE ROLE r SUPERUSER",
	"GRANT pg_execute_server_program TO r",
	"DROP DATABASE x",
	"RESET ALL",
	"LOAD 'x'",
	"SELECT pg_catalog.set_config('role', 'postgres', false)",
}

// FuzzClassifyStatement checks that the gate never panics, that no text put after a
// refused statement (behind a comment) makes it pass, and that a statement it accepts
// does not hide a refused one put after it.
func FuzzClassifyStatement(f *testing.F) {
	for _, s := range []string{
		"SELECT 1;", "SET search_path = '';", "COPY public.t (a) FROM stdin;",
		"CREATE FUNCTION f() AS $x$ COPY t TO PROGRAM 'id' $x$;",
		"COMMENT ON TABLE t IS 'ALTER SYSTEM';", `CREATE TABLE "program" ("to" int);`,
		"SELECT E'\\'';", "/* /* */ */ SELECT 1", "SELECT 1 -- c", "SELECT $1, a$b$c;",
		"GRANT SELECT ON t TO r;", "SELECT pg_catalog.set_config('search_path', '', false);",
		"SELECT U&'x';", "SELECT 'a'\n'b';",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := ClassifyStatement(s)
		if r != nil && (r.Offset < 0 || r.Offset > len(s)) {
			t.Fatalf("offset %d outside %d bytes", r.Offset, len(s))
		}
		for _, p := range refusedPrefixes {
			if ClassifyStatement("/* fuzz */ "+p+"\n"+s) == nil {
				t.Fatalf("%q followed by %q passed the gate", p, s)
			}
			if r == nil && ClassifyStatement(s+"\n;\n-- c\n"+p+";") == nil {
				t.Fatalf("accepted %q hid %q after it", s, p)
			}
		}
	})
}
