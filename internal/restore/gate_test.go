package restore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/testenv"
)

func queryBool(t *testing.T, url, sql string, args ...any) bool {
	t.Helper()
	var b bool
	scanRow(t, url, sql, args, &b)
	return b
}

// TestApplyRefusesHostileStatements feeds dumps carrying each trap the gate knows to a
// real database over a superuser connection (so without the gate they would work): the
// apply fails naming the entry and line, the trap had no effect, and nothing after it
// ran.
func TestApplyRefusesHostileStatements(t *testing.T) {
	t.Parallel()
	suffix := strings.ToLower(testenv.Name("g"))
	pwned := filepath.Join(t.TempDir(), "pwned")
	other := testenv.NewDatabase(t)
	otherCfg, err := pgx.ParseConfig(other)
	if err != nil {
		t.Fatal(err)
	}
	otherName := otherCfg.Database
	const head = "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n" +
		"CREATE TABLE public.before (id int);\n\n" // lines 1-5; a trap starts on line 5 + its offset
	const after = "\nCREATE TABLE public.after (id int);\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
	const trailer = "\n--\n-- PostgreSQL database dump complete\n--\n\n"
	tests := []struct {
		name      string
		dump      string
		line      int
		what      string
		untouched string // SQL on the target that is true when the trap had no effect
		args      []any
	}{
		{"copy program behind a comment", head + "/* x */ COPY (SELECT 1) TO PROGRAM 'touch " + pwned + "';\n" + after,
			6, "COPY ... PROGRAM", "SELECT true", nil},
		{"create role superuser", head + "/**/ CREATE ROLE evil_" + suffix + " SUPERUSER;\n" + after,
			6, "CREATE ROLE", "SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", []any{"evil_" + suffix}},
		{"drop another database", head + "/**/ DROP DATABASE " + extract.QuoteIdent(otherName) + ";\n" + after,
			6, "DROP DATABASE", "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", []any{otherName}},
		{"alter system", head + "-- c\nALTER\n  SYSTEM SET portal_gate.t" + suffix + " = 'x';\n" + after,
			7, "ALTER SYSTEM", "SELECT NOT EXISTS (SELECT FROM pg_file_settings WHERE name = $1)", []any{"portal_gate.t" + suffix}},
		{"later statement on the line", head + "SELECT 1; /* */ CREATE ROLE late_" + suffix + ";\n" + after,
			6, "CREATE ROLE", "SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", []any{"late_" + suffix}},
		{"set_config role", head + "SELECT pg_catalog.set_config('role', 'postgres', false);\n" + after,
			6, "set_config('role')", "SELECT true", nil},
		{"after the trailer", head + trailer + "CREATE TABLE public.after (id int);\n",
			11, "content after the completion trailer", "SELECT true", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := testenv.NewDatabase(t)
			_, err := apply(t, tt.dump, target, restore.Options{Jobs: 2})
			var re *extract.RefusedError
			if !errors.As(err, &re) || !errors.Is(err, extract.ErrRefused) {
				t.Fatalf("err = %v, want a refused statement", err)
			}
			if re.Line != tt.line || !strings.HasPrefix(re.What, tt.what) || !strings.Contains(err.Error(), fmt.Sprintf("line %d", tt.line)) {
				t.Errorf("err = %v, want line %d: %s", err, tt.line, tt.what)
			}
			if !queryBool(t, target, tt.untouched, tt.args...) {
				t.Errorf("the trap took effect (%s)", tt.untouched)
			}
			if !queryBool(t, target, "SELECT to_regclass('public.before') IS NOT NULL") {
				t.Error("the statement before the trap did not run: the failure is not the gate's")
			}
			if queryBool(t, target, "SELECT to_regclass('public.after') IS NOT NULL") {
				t.Error("a statement after the trap ran")
			}
		})
	}
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("COPY ... PROGRAM ran: %s exists (%v)", pwned, err)
	}
}

// TestApplyRefusalStopsBeforePostData: a trap among post-data entries, read after the
// data was loaded, fails the apply before any post-data statement runs.
func TestApplyRefusalStopsBeforePostData(t *testing.T) {
	t.Parallel()
	dump := "SET statement_timeout = 0;\n\nCREATE TABLE public.t (id int NOT NULL);\n\n" +
		"--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n" +
		"COPY public.t (id) FROM stdin;\n1\n2\n\\.\n\n" +
		"--\n-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\n" +
		"ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n\n" +
		"--\n-- Name: t_id; Type: INDEX; Schema: public; Owner: -\n--\n\n" +
		"/* index */ RESET ALL;\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
	target := testenv.NewDatabase(t)
	_, err := apply(t, dump, target, restore.Options{Jobs: 2})
	if !errors.Is(err, extract.ErrRefused) || !strings.Contains(err.Error(), `INDEX "t_id" (line 25): refused statement at line 25: RESET ALL`) {
		t.Fatalf("err = %v", err)
	}
	if queryBool(t, target, "SELECT EXISTS (SELECT FROM pg_constraint WHERE conname = 't_pkey')") {
		t.Error("post-data ran before the refused entry was read")
	}
}

// TestApplySQLStandardFunctionBodies: pg_dump writes functions with BEGIN ATOMIC
// bodies, whose statements end in ';', as one statement; Apply restores them and
// the gate lets them pass.
func TestApplySQLStandardFunctionBodies(t *testing.T) {
	t.Parallel()
	src := testenv.NewDatabase(t)
	execSQL(t, src, `CREATE TABLE public.t (x int);
CREATE FUNCTION public.sign_of(a integer) RETURNS integer LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN a > 0 THEN 1 WHEN a < 0 THEN -1 ELSE 0 END;
END;
CREATE PROCEDURE public.add_one() LANGUAGE sql
BEGIN ATOMIC
  INSERT INTO public.t (x) VALUES (1);
  INSERT INTO public.t (x) VALUES (public.sign_of(-5));
END;`)
	dump := pgDump(t, src)
	if !strings.Contains(dump, "BEGIN ATOMIC") {
		t.Fatalf("pg_dump wrote no SQL-standard body:\n%s", dump)
	}
	target := testenv.NewDatabase(t)
	if _, err := apply(t, dump, target, restore.Options{Jobs: 2}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	execSQL(t, target, "CALL public.add_one();")
	if !queryBool(t, target, "SELECT array_agg(x ORDER BY x) = '{-1,1}' FROM public.t") {
		t.Error("the restored procedure does not do what the original does")
	}
}
