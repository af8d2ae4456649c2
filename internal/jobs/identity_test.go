package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// The customer controls the dump. These tests give the customer's database
// traps: functions reached from a CHECK constraint (run during COPY), an
// index expression (run by CREATE INDEX), a materialized view (run by
// REFRESH), a trigger and a default (run by later inserts), and a SECURITY
// DEFINER function. Each trap tries, through EXECUTE, privileged acts (COPY
// TO PROGRAM writing a file on the host, ALTER ROLE ... SUPERUSER, RESET ROLE
// then ALTER ROLE, pg_read_file, lo_import, CREATE EXTENSION dblink) inside an
// exception handler, so the dump restores when they are refused, and records
// in public.trap_runs (made by the trap itself, so never in the dump) whether
// each act succeeded and whether it ran as a superuser.

const trapSQL = `
CREATE FUNCTION public.trap_record(via text, act text, ok boolean, su boolean) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        CREATE TABLE IF NOT EXISTS public.trap_runs (via text, act text, ok boolean, usr text, super boolean);
    EXCEPTION WHEN others THEN NULL;
    END;
    BEGIN
        INSERT INTO public.trap_runs VALUES (via, act, ok, current_user, su);
    EXCEPTION WHEN others THEN
        RAISE WARNING 'trap % %: ok=% super=% (not recorded: %)', via, act, ok, su, SQLERRM;
    END;
END $f$;

CREATE FUNCTION public.trap_attempt(via text, act text, stmt text) RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE ok boolean := true; su boolean;
BEGIN
    SELECT rolsuper INTO su FROM pg_roles WHERE rolname = current_user;
    BEGIN
        EXECUTE stmt;
    EXCEPTION WHEN others THEN ok := false;
    END;
    PERFORM public.trap_record(via, act, ok, su);
END $f$;

CREATE FUNCTION public.trap_reset(via text) RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE me text := current_user; ok boolean := true; su boolean;
BEGIN
    BEGIN
        RESET ROLE;
        SELECT rolsuper INTO su FROM pg_roles WHERE rolname = current_user;
        BEGIN
            EXECUTE format('ALTER ROLE %I SUPERUSER', '@CUSTOMER@');
        EXCEPTION WHEN others THEN ok := false;
        END;
        EXECUTE format('SET ROLE %I', me);
    EXCEPTION WHEN others THEN ok := false;
    END;
    PERFORM public.trap_record(via, 'reset role, alter role superuser', ok, coalesce(su, false));
END $f$;

CREATE FUNCTION public.trap(via text) RETURNS boolean
LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM public.trap_attempt(via, 'copy to program', format('COPY (SELECT 1) TO PROGRAM %L', 'touch @MARKER@-' || via));
    PERFORM public.trap_attempt(via, 'alter role superuser', format('ALTER ROLE %I SUPERUSER', '@CUSTOMER@'));
    PERFORM public.trap_attempt(via, 'alter current role', 'ALTER ROLE CURRENT_USER CREATEROLE BYPASSRLS');
    PERFORM public.trap_attempt(via, 'pg_read_file', 'SELECT pg_read_file(''/etc/hostname'')');
    PERFORM public.trap_attempt(via, 'pg_read_file stack env', format('SELECT pg_read_file(%L)', '@ENVFILE@'));
    PERFORM public.trap_attempt(via, 'lo_import', 'SELECT lo_import(''/etc/hostname'')');
    PERFORM public.trap_attempt(via, 'create extension dblink', 'CREATE EXTENSION IF NOT EXISTS dblink');
    PERFORM public.trap_attempt(via, 'create extension postgres_fdw', 'CREATE EXTENSION IF NOT EXISTS postgres_fdw');
    PERFORM public.trap_attempt(via, 'grant pg_execute_server_program', format('GRANT pg_execute_server_program TO %I', '@CUSTOMER@'));
    PERFORM public.trap_reset(via);
    RETURN true;
END $f$;

CREATE FUNCTION public.trap_text(via text) RETURNS text
LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.trap(via); RETURN via; END $f$;

-- Index expressions must be immutable; this one lies and calls the trap.
CREATE FUNCTION public.trap_index(i integer) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $f$ BEGIN PERFORM public.trap('index'); RETURN i; END $f$;

CREATE FUNCTION public.trap_trigger() RETURNS trigger
LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.trap('trigger'); RETURN NEW; END $f$;

CREATE FUNCTION public.whoami_definer() RETURNS text
LANGUAGE sql SECURITY DEFINER AS $f$ SELECT current_user::text $f$;

CREATE TABLE public.guarded (
    id   integer PRIMARY KEY,
    note text DEFAULT public.trap_text('default'),
    CONSTRAINT guarded_trap CHECK (public.trap('check'))
);
CREATE INDEX guarded_trap_idx ON public.guarded (public.trap_index(id));
CREATE TRIGGER guarded_trap BEFORE INSERT ON public.guarded FOR EACH ROW EXECUTE FUNCTION public.trap_trigger();
INSERT INTO public.guarded (id) SELECT generate_series(1, 3);
CREATE MATERIALIZED VIEW public.trap_mv AS SELECT public.trap('matview') AS ran;
-- What the traps recorded while the customer set this up is not part of the dump.
DROP TABLE public.trap_runs;
`

// trapped is a harness whose live database carries the traps, made by the
// customer (the database's owner role) over its own login.
type trapped struct {
	*harness
	customer string
	marker   string // prefix of the files COPY TO PROGRAM would create
}

func newTrapped(t *testing.T) *trapped {
	t.Helper()
	h := newHarness(t)
	tr := &trapped{harness: h, customer: demo.OwnerRole(h.db), marker: filepath.Join(os.TempDir(), testenv.Name("trap-"))}
	t.Cleanup(func() {
		files, _ := filepath.Glob(tr.marker + "*")
		for _, f := range files {
			_ = os.Remove(f)
		}
	})
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sql := strings.NewReplacer("@CUSTOMER@", tr.customer, "@MARKER@", tr.marker, "@ENVFILE@", filepath.Join(root, ".stack", "env")).Replace(trapSQL)
	tr.asCustomer(h.db, func(conn *pgx.Conn) {
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatalf("set up the traps as the customer: %v", err)
		}
	})
	return tr
}

func (tr *trapped) asCustomer(db string, f func(*pgx.Conn)) {
	tr.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.RoleURL(tr.t, db, tr.customer))
	if err != nil {
		tr.t.Fatalf("connect to %s as the customer %s: %v", db, tr.customer, err)
	}
	defer conn.Close(ctx)
	f(conn)
}

// roleAttrs is every role's attributes and memberships in predefined roles.
func (tr *trapped) roleAttrs() map[string]string {
	tr.t.Helper()
	m := map[string]string{}
	tr.onAdmin(func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `
		SELECT r.rolname, format('super=%s createrole=%s createdb=%s bypassrls=%s replication=%s predefined=%s',
			r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication,
			coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m
				JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid AND g.rolname LIKE 'pg\_%'), ''))
		FROM pg_roles r`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name, attrs string
			if err := rows.Scan(&name, &attrs); err != nil {
				return err
			}
			m[name] = attrs
		}
		return rows.Err()
	})
	return m
}

// checkNoEscalation asserts every consequence a trap could have had.
func (tr *trapped) checkNoEscalation(db string, rolesBefore map[string]string) {
	t := tr.t
	t.Helper()
	ctx := context.Background()
	// No file on the host.
	if files, _ := filepath.Glob(tr.marker + "*"); len(files) > 0 {
		t.Errorf("COPY TO PROGRAM ran: %v", files)
	}
	// No role changed. (Other tests add and drop roles meanwhile: compare
	// the roles that exist both before and after.)
	after := tr.roleAttrs()
	for name, was := range rolesBefore {
		if strings.HasSuffix(name, "_owner") && name != tr.customer && !strings.HasPrefix(name, tr.db) {
			continue // another test's customer, restored in parallel
		}
		if now, ok := after[name]; ok && now != was {
			t.Errorf("role %s changed: %s -> %s", name, was, now)
		}
	}
	if want := "super=f createrole=f createdb=f bypassrls=f replication=f predefined="; after[tr.customer] != want {
		t.Errorf("customer role %s: %s, want %s", tr.customer, after[tr.customer], want)
	}
	// No login role of this test's restores is left (other tests' may be
	// running meanwhile).
	var left []string
	tr.onAdmin(func(ctx context.Context, conn *pgx.Conn) (err error) {
		left, err = column[string](ctx, conn, `SELECT r.rolname FROM pg_roles r
		JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
		WHERE starts_with(r.rolname, $1) AND (g.rolname = $2 OR starts_with(g.rolname, $3))`, cluster.LoginPrefix, tr.customer, tr.db)
		return err
	})
	if len(left) > 0 {
		t.Errorf("restore login roles left behind: %v", left)
	}

	conn, err := tr.cl.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// No object owned by a superuser, but what extensions made (by design
	// the admin creates allowlisted extensions).
	owned, err := column[string](ctx, conn, `
		SELECT o.kind || ' ' || o.name || ' is owned by ' || r.rolname FROM (
			SELECT 'relation' AS kind, c.oid::regclass::text AS name, c.relowner AS owner, c.oid, 'pg_class'::regclass AS cls
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
			UNION ALL
			SELECT 'function', p.oid::regprocedure::text, p.proowner, p.oid, 'pg_proc'::regclass
			FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
			UNION ALL
			SELECT 'schema', n.nspname::text, n.nspowner, n.oid, 'pg_namespace'::regclass
			FROM pg_namespace n WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
			UNION ALL
			SELECT 'type', t.oid::regtype::text, t.typowner, t.oid, 'pg_type'::regclass
			FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
			WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND t.typcategory <> 'A'
			UNION ALL
			SELECT 'large object', l.oid::text, l.lomowner, l.oid, 'pg_largeobject_metadata'::regclass FROM pg_largeobject_metadata l
		) o JOIN pg_roles r ON r.oid = o.owner
		WHERE r.rolsuper AND NOT EXISTS (
			SELECT 1 FROM pg_depend d WHERE d.classid = o.cls AND d.objid = o.oid AND d.deptype = 'e')
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range owned {
		t.Errorf("%s, a superuser", o)
	}
	// The traps ran, and every privileged act was refused, never as a superuser.
	rows, err := conn.Query(ctx, `SELECT via, act, ok, usr, coalesce(super, false) FROM public.trap_runs ORDER BY 1, 2`)
	if err != nil {
		t.Fatalf("no trap records in %s (the traps did not run?): %v", db, err)
	}
	vias := map[string]bool{}
	n := 0
	for rows.Next() {
		var via, act, usr string
		var ok, super bool
		if err := rows.Scan(&via, &act, &ok, &usr, &super); err != nil {
			t.Fatal(err)
		}
		n++
		vias[via] = true
		if ok || super {
			t.Errorf("trap %s: %s succeeded=%t as %s (superuser %t)", via, act, ok, usr, super)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !vias["check"] {
		t.Errorf("the CHECK constraint trap did not run during the restore (%d records from %v)", n, keys(vias))
	}
	// A SECURITY DEFINER function (full scope: table scope leaves it out)
	// comes back owned by the owner, not by whoever ran the restore.
	var definerOwner string
	var definerSuper bool
	err = conn.QueryRow(ctx, `SELECT r.rolname, r.rolsuper FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE p.proname = 'whoami_definer'`).Scan(&definerOwner, &definerSuper)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	if definerSuper {
		t.Errorf("SECURITY DEFINER function owned by %s, a superuser", definerOwner)
	}
	hasDefiner := err == nil
	// The customer can use the restored database at once, and its inserts
	// (trigger, default, CHECK) run as the customer.
	tr.asCustomer(db, func(c *pgx.Conn) {
		var rows int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM public.guarded`).Scan(&rows); err != nil || rows != 3 {
			t.Errorf("customer SELECT: %d rows, %v", rows, err)
		}
		if _, err := c.Exec(ctx, `INSERT INTO public.guarded (id) VALUES (1000)`); err != nil {
			t.Errorf("customer INSERT: %v", err)
		}
		if hasDefiner {
			var who string
			if err := c.QueryRow(ctx, `SELECT public.whoami_definer()`).Scan(&who); err != nil || who != definerOwner {
				t.Errorf("SECURITY DEFINER runs as %q (%v), want %s", who, err, definerOwner)
			}
		}
	})
	// The project cluster's roles do not exist on the portal's cluster, so
	// nothing running as them reaches the portal database.
	pc, err := pgx.ParseConfig(tr.portalURL)
	if err != nil {
		t.Fatal(err)
	}
	portalAsCustomer := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable&connect_timeout=5", tr.customer, pc.Host, pc.Port, pc.Database)
	if c, err := pgx.Connect(ctx, portalAsCustomer); err == nil {
		c.Close(ctx)
		t.Errorf("the customer role logs in to the portal's database")
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDumpRunsWithoutRightsInEveryRestoreKind restores the trapped database
// in each of the four kinds and checks that no trap gained anything.
func TestDumpRunsWithoutRightsInEveryRestoreKind(t *testing.T) {
	t.Parallel()
	guarded := tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.guarded"}}
	for _, tc := range everyKind(guarded) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTrapped(t)
			tr.startRiver()
			snap := tr.capture()
			before := tr.roleAttrs()
			tk := tr.restore(snap, tc.scope, tc.mode, tickets.Options{})
			wantState(t, tk, tickets.StateSucceeded, "restore")
			db := tk.Result.TargetDatabase
			if tc.mode == tickets.ModeNewProject {
				owner, err := tr.cl.DatabaseOwner(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				if owner == tr.customer || owner == "postgres" {
					t.Fatalf("new project database owned by %s, want a new owner role of its own", owner)
				}
				if err := tr.cl.CheckOwnerRole(context.Background(), owner); err != nil {
					t.Fatalf("new project's owner: %v", err)
				}
				var recorded string
				if err := tr.pool.QueryRow(context.Background(), `SELECT coalesce(owner_role, '') FROM projects WHERE ref = $1`, tk.TargetRef()).Scan(&recorded); err != nil || recorded != owner {
					t.Fatalf("new project's owner role recorded as %q (%v), want %s", recorded, err, owner)
				}
			}
			tr.checkNoEscalation(db, before)
		})
	}
}

// TestRestoreRefusesPrivilegedOwnersBeforeAnyChange: a project database
// owned by a superuser, or a recorded owner role with rights, fails the
// restore with a clear message and nothing changed.
func TestRestoreRefusesPrivilegedOwnersBeforeAnyChange(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap := h.capture()
	ctx := context.Background()
	live := h.checksum(h.db)

	h.adminExec(`ALTER DATABASE ` + pgx.Identifier{h.db}.Sanitize() + ` OWNER TO postgres`)
	tk := h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "owned by postgres") || !strings.Contains(tk.Result.Message, "--owner-role") {
		t.Fatalf("superuser-owned database: %s: %s", tk.State, tk.Result.Message)
	}

	creator := testenv.Name("r_creator_")
	h.adminExec(`CREATE ROLE ` + creator + ` NOLOGIN CREATEROLE`)
	t.Cleanup(func() { testenv.DropRole(t, creator) })
	if _, err := h.pool.Exec(ctx, `UPDATE projects SET owner_role = $2 WHERE ref = $1`, h.ref, creator); err != nil {
		t.Fatal(err)
	}
	tk = h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "CREATEROLE") {
		t.Fatalf("privileged owner role: %s: %s", tk.State, tk.Result.Message)
	}
	h.wantLive(live, "a refused restore changed the live database")
	if n := len(h.databasesLike(h.db + "_%")); n != 0 {
		t.Fatalf("a refused restore left %d databases", n)
	}
}

// TestExtensionOutsideAllowlistFailsBeforeAnyChange: the demo dump creates
// citext; with an allowlist without it, the restore fails naming citext,
// before the safety snapshot or any database is made.
func TestExtensionOutsideAllowlistFailsBeforeAnyChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	deps := h.deps
	deps.Config.ExtensionsAllow = []string{"pgcrypto"}
	h.startRiverWith(deps)
	snap := h.capture()
	live := h.checksum(h.db)
	for _, mode := range []tickets.Mode{tickets.ModeDestructive, tickets.ModeNewProject} {
		tk := h.restore(snap, full, mode, tickets.Options{})
		if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "citext") || !strings.Contains(tk.Result.Message, "allow") {
			t.Fatalf("%s: %s: %s", mode, tk.State, tk.Result.Message)
		}
	}
	h.wantLive(live, "the refused restore changed the live database")
	if n := len(h.databasesLike(h.db + "_%")); n != 0 {
		t.Fatalf("the refused restore made %d databases", n)
	}
	var snaps int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM snapshots WHERE project_ref = $1`, h.ref).Scan(&snaps); err != nil || snaps != 1 {
		t.Fatalf("%d snapshots (%v): a safety snapshot was taken before the refusal", snaps, err)
	}
}

func (h *harness) databasesLike(pattern string) []string {
	h.t.Helper()
	var names []string
	h.onAdmin(func(ctx context.Context, conn *pgx.Conn) (err error) {
		names, err = column[string](ctx, conn, `SELECT datname FROM pg_database WHERE datname LIKE $1`, pattern)
		return err
	})
	return names
}

// TestRestoreRunsOnTheProjectsCluster: the worker takes each project's
// cluster from its registration. With "default" unreachable and the
// project registered on "second", a destructive restore succeeds there; a
// project on a cluster the worker has no URL for fails, saying so.
func TestRestoreRunsOnTheProjectsCluster(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	deps := h.deps
	deps.Config.Clusters = map[string]string{
		cluster.Default: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
		"second":        h.cfg.ProjectsAdminURL,
	}
	h.startRiverWith(deps)
	ctx := context.Background()
	if _, err := h.pool.Exec(ctx, `UPDATE projects SET cluster = 'second' WHERE ref = $1`, h.ref); err != nil {
		t.Fatal(err)
	}
	h.cfg.Clusters = deps.Config.Clusters // the capture below dumps from "second" too
	snap := h.capture()
	tk := h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore on cluster second")
	if _, err := h.pool.Exec(ctx, `UPDATE projects SET cluster = 'gone' WHERE ref = $1`, h.ref); err != nil {
		t.Fatal(err)
	}
	live := h.checksum(h.db)
	tk = h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, `"gone"`) || !strings.Contains(tk.Result.Message, "not configured") {
		t.Fatalf("restore on an unconfigured cluster: %s: %s", tk.State, tk.Result.Message)
	}
	h.wantLive(live, "a refused restore changed the live database")
}
