package verify

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/snapshots"
)

// TestVerifyRefusesHostileDumps puts pg_dump-shaped dumps (the small fixture and a real
// pg_dump 15 dump with \restrict) carrying each trap of the statement gate into S3 and
// verifies them: each is corrupt with the line and what was refused; the same dumps
// without traps, and traps hidden in a function body, verify.
func TestVerifyRefusesHostileDumps(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	raw, err := os.ReadFile("../extract/testdata/full.sql")
	if err != nil {
		t.Fatal(err)
	}
	real := string(raw)
	const at = "SET statement_timeout = 0;\n" // line 8 of dumpSQL, line 10 of full.sql
	inject := func(dump, trap string) string { return strings.Replace(dump, at, at+trap+"\n", 1) }
	lines := func(s string) int { return strings.Count(s, "\n") }
	const trailerComment = "-- PostgreSQL database dump complete\n--\n"
	beforeTrailer := func(dump, trap string) string {
		return strings.Replace(dump, "--\n"+trailerComment, trap+"\n\n--\n"+trailerComment, 1)
	}
	realTrailerLine := lines(real[:strings.Index(real, trailerComment)]) // the "--" above it
	type gateCase struct {
		name   string
		dump   string
		reason string
	}
	tests := []gateCase{
		{"clean", dumpSQL, ""},
		{"clean-real", real, ""},
		{"function-body", inject(dumpSQL, "CREATE FUNCTION public.f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id''';\n  ALTER SYSTEM SET x = 1;\nEND $$;"), ""},
		{"strings-and-names", inject(dumpSQL, `COMMENT ON TABLE public.items IS 'COPY x TO PROGRAM ''id''; SET ROLE postgres';`+"\n"+`CREATE TABLE public."program" ("ALTER SYSTEM" text);`), ""},
		{"copy-program", inject(dumpSQL, "/* x */ COPY (SELECT 1) TO PROGRAM 'id';"), "refused statement at line 9: COPY ... PROGRAM"},
		{"copy-file", inject(dumpSQL, "COPY public.items FROM '/etc/passwd';"), "refused statement at line 9: COPY ... FROM a server file"},
		{"drop-database", inject(dumpSQL, "/**/ DROP DATABASE other;"), "refused statement at line 9: DROP DATABASE"},
		{"alter-system", inject(dumpSQL, "-- harmless\nALTER\n  SYSTEM SET shared_preload_libraries = 'x';"), "refused statement at line 10: ALTER SYSTEM"},
		{"create-role", inject(dumpSQL, "CREATE ROLE evil SUPERUSER LOGIN;"), "refused statement at line 9: CREATE ROLE"},
		{"grant-membership", inject(dumpSQL, "GRANT pg_read_server_files TO anon;"), "refused statement at line 9: GRANT of role membership"},
		{"set-role", inject(dumpSQL, "SELECT 1; SET ROLE postgres;"), "refused statement at line 9: SET ROLE"},
		{"session-auth", inject(dumpSQL, "set session authorization postgres;"), "refused statement at line 9: SET SESSION AUTHORIZATION"},
		{"reset-role", inject(dumpSQL, "RESET ROLE;"), "refused statement at line 9: RESET ROLE"},
		{"load", inject(dumpSQL, "LOAD 'evil';"), "refused statement at line 9: LOAD"},
		{"set-config-role", inject(dumpSQL, "SELECT pg_catalog.set_config('role', 'postgres', false);"), "refused statement at line 9: set_config('role')"},
		{"tablespace", inject(dumpSQL, "CREATE TABLESPACE t LOCATION '/tmp';"), "refused statement at line 9: CREATE TABLESPACE"},
		{"after-trailer", dumpSQL + "ALTER TABLE public.items ADD COLUMN x int;\n",
			fmt.Sprintf("refused statement at line %d: content after the completion trailer: ALTER TABLE public.items ADD COLUMN x int;", lines(dumpSQL)+1)},
		{"real-alter-system", inject(real, "/* */ ALTER SYSTEM SET x = 1;"), "refused statement at line 11: ALTER SYSTEM"},
		{"real-before-trailer", beforeTrailer(real, "SELECT 1;\nCOPY (SELECT 1) TO PROGRAM 'id';"), fmt.Sprintf("refused statement at line %d: COPY ... PROGRAM", realTrailerLine+1)},
		{"real-after-trailer", real + "GRANT postgres TO anon;\n",
			fmt.Sprintf("refused statement at line %d: content after the completion trailer: GRANT postgres TO anon;", lines(real)+1)},
	}
	verifyEach(t, d, "proj-g", tests, func(tt gateCase) (string, []byte) { return tt.name, gz(tt.dump) }, func(tt gateCase, got snapshots.Snapshot) {
		want := snapshots.StatusVerified
		if tt.reason != "" {
			want = snapshots.StatusCorrupt
		}
		if got.Status != want || got.Reason != tt.reason {
			t.Errorf("%s: status %s, reason %q; want %s, %q", tt.name, got.Status, got.Reason, want, tt.reason)
		}
	})
}
