package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
)

// role creates a role on the project cluster, dropped when the test ends.
// ownedDatabase makes a NOLOGIN owner role and an empty database named
// after prefix owned by it, both dropped when the test ends.
func ownedDatabase(t *testing.T, c *cluster.Cluster, prefix string) (owner, db string) {
	t.Helper()
	owner = role(t, c, testenv.Name("r_owner_"), "NOLOGIN")
	db = testenv.Name(prefix)
	if err := c.CreateOwned(context.Background(), db, owner); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Drop(context.Background(), db) })
	return owner, db
}

func role(t *testing.T, c *cluster.Cluster, name, attrs string) string {
	t.Helper()
	exec(t, c, "postgres", "CREATE ROLE "+pgx.Identifier{name}.Sanitize()+" "+attrs)
	t.Cleanup(func() { testenv.DropRole(t, name) })
	return name
}

func TestCheckOwnerRoleRefusesEveryPrivilege(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	plain := role(t, c, testenv.Name("r_plain_"), "NOLOGIN")
	if err := c.CheckOwnerRole(ctx, plain); err != nil {
		t.Fatalf("plain role refused: %v", err)
	}
	creator := role(t, c, testenv.Name("r_creator_"), "NOLOGIN CREATEROLE")
	indirect := role(t, c, testenv.Name("r_indirect_"), "NOLOGIN")
	exec(t, c, "postgres", "GRANT "+creator+" TO "+indirect)
	cases := []struct{ name, role, want string }{
		{"superuser", role(t, c, testenv.Name("r_super_"), "SUPERUSER"), "SUPERUSER"},
		{"createrole", creator, "CREATEROLE"},
		{"createdb", role(t, c, testenv.Name("r_cdb_"), "CREATEDB"), "CREATEDB"},
		{"bypassrls", role(t, c, testenv.Name("r_rls_"), "BYPASSRLS"), "BYPASSRLS"},
		{"replication", role(t, c, testenv.Name("r_repl_"), "REPLICATION"), "REPLICATION"},
		{"through a member role", indirect, "CREATEROLE (through membership in " + creator + ")"},
	}
	for _, p := range []string{"pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend"} {
		r := role(t, c, testenv.Name("r_pre_"), "NOLOGIN")
		exec(t, c, "postgres", "GRANT "+p+" TO "+r)
		cases = append(cases, struct{ name, role, want string }{p, r, "member of " + p})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckOwnerRole(ctx, tc.role)
			if !errors.Is(err, cluster.ErrPrivilegedRole) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want ErrPrivilegedRole naming %q, got %v", tc.want, err)
			}
			// A session for it is refused too: nothing runs as it.
			if _, err := c.OwnerSession(ctx, "postgres", tc.role); !errors.Is(err, cluster.ErrPrivilegedRole) {
				t.Fatalf("OwnerSession accepted a privileged owner: %v", err)
			}
		})
	}
	if err := c.CheckOwnerRole(ctx, testenv.Name("r_missing_")); !errors.Is(err, cluster.ErrNoRole) {
		t.Fatalf("missing role: %v", err)
	}
}

// TestOwnerSessionHasNoSuperuserBehindIt: connections act as the owner,
// log in as a role with fewer rights, so RESET ROLE gains nothing; what they
// make is owned by the owner; Close leaves no login role behind.
func TestOwnerSessionHasNoSuperuserBehindIt(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	owner, db := ownedDatabase(t, c, "t_sess_")
	s, err := c.OwnerSession(ctx, db, owner)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cur, sess string
	if err := conn.QueryRow(ctx, `SELECT current_user, session_user`).Scan(&cur, &sess); err != nil {
		t.Fatal(err)
	}
	if cur != owner || sess != s.Login() || !strings.HasPrefix(sess, cluster.LoginPrefix) {
		t.Fatalf("current_user %s session_user %s, want %s and the login role", cur, sess, owner)
	}
	if err := cluster.CheckUnprivileged(ctx, conn); err != nil {
		t.Fatalf("session connection: %v", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE public.made_as_owner (id int)`); err != nil {
		t.Fatalf("owner cannot create in public: %v", err)
	}
	// RESET ROLE falls back to the login role: no superuser, not even the
	// owner's rights (NOINHERIT).
	if _, err := conn.Exec(ctx, `RESET ROLE`); err != nil {
		t.Fatal(err)
	}
	var super bool
	if err := conn.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if super {
		t.Fatal("RESET ROLE reached a superuser")
	}
	if _, err := conn.Exec(ctx, `COPY (SELECT 1) TO PROGRAM 'true'`); err == nil {
		t.Fatal("COPY TO PROGRAM ran after RESET ROLE")
	}
	if _, err := conn.Exec(ctx, `INSERT INTO public.made_as_owner VALUES (1)`); err == nil {
		t.Fatal("the login role used the owner's rights without SET ROLE")
	}
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE x (id int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SET ROLE `+pgx.Identifier{owner}.Sanitize()+`; CREATE SCHEMA aside; RESET ROLE; GRANT USAGE ON SCHEMA aside TO PUBLIC`); err == nil {
		t.Fatal("login role granted on the owner's schema")
	}
	// Something the login role owns (made while it was not the owner) goes to the owner.
	if _, err := conn.Exec(ctx, `SET ROLE `+pgx.Identifier{owner}.Sanitize()+`; CREATE SCHEMA s; GRANT CREATE ON SCHEMA s TO `+pgx.Identifier{s.Login()}.Sanitize()+`; RESET ROLE; CREATE TABLE s.by_login (id int)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := query[string](t, c, db, `SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'by_login'`); got != owner {
		t.Fatalf("table made by the login role is owned by %s, want %s", got, owner)
	}
	if n := query[int](t, c, db, `SELECT count(*)::int FROM pg_roles WHERE rolname = '`+s.Login()+`'`); n != 0 {
		t.Fatalf("login role %s left behind", s.Login())
	}
	// The admin connection is the opposite of what a dump may run on.
	admin := session(t, c, db)
	defer admin.Close(ctx)
	if err := cluster.CheckUnprivileged(ctx, admin); !errors.Is(err, cluster.ErrPrivilegedRole) {
		t.Fatalf("admin connection reported unprivileged: %v", err)
	}
}

func TestConnectAsActsAsTheRole(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	owner, db := ownedDatabase(t, c, "t_as_")
	rc, err := c.ConnectAs(ctx, db, owner)
	if err != nil {
		t.Fatal(err)
	}
	var cur string
	if err := rc.QueryRow(ctx, `SELECT current_user`).Scan(&cur); err != nil {
		t.Fatal(err)
	}
	if cur != owner {
		t.Fatalf("current_user %s, want %s", cur, owner)
	}
	if err := rc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := query[int](t, c, "postgres", `SELECT count(*)::int FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = '`+owner+`'`); n != 0 {
		t.Fatalf("%d login roles still members of %s after Close", n, owner)
	}
	if _, err := c.ConnectAs(ctx, db, "postgres"); !errors.Is(err, cluster.ErrPrivilegedRole) {
		t.Fatalf("ConnectAs a superuser: %v", err)
	}
	oc, err := c.ConnectOwner(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := oc.QueryRow(ctx, `SELECT current_user`).Scan(&cur); err != nil || cur != owner {
		t.Fatalf("ConnectOwner acts as %s (%v), want %s", cur, err, owner)
	}
	if err := oc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	exec(t, c, "postgres", "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER TO postgres")
	if _, err := c.ConnectOwner(ctx, db); !errors.Is(err, cluster.ErrPrivilegedRole) {
		t.Fatalf("ConnectOwner of a superuser-owned database: %v", err)
	}
}

func TestCreateExtensionOnlyFromTheAllowlist(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	owner, db := ownedDatabase(t, c, "t_ext_")
	allow := []string{"citext", "pgcrypto"}
	if err := c.CreateExtension(ctx, db, "citext", "", allow); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateExtension(ctx, db, "dblink", "", allow); !errors.Is(err, cluster.ErrExtensionRefused) {
		t.Fatalf("dblink: %v", err)
	}
	if n := query[int](t, c, db, `SELECT count(*)::int FROM pg_extension WHERE extname = 'dblink'`); n != 0 {
		t.Fatal("dblink was created")
	}
	// An extension into a schema the customer already filled is refused: its
	// install script would run the customer's functions as a superuser.
	exec(t, c, db, `SET ROLE `+owner+`; CREATE SCHEMA trapped; CREATE FUNCTION trapped.lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'`)
	if err := c.CreateExtension(ctx, db, "pgcrypto", "trapped", allow); !errors.Is(err, cluster.ErrExtensionRefused) || !strings.Contains(err.Error(), "function lower") {
		t.Fatalf("extension into a filled schema: %v", err)
	}
	// public holds only citext's objects (the admin's): that is fine.
	if err := c.CreateExtension(ctx, db, "pgcrypto", "", allow); err != nil {
		t.Fatalf("pgcrypto into public: %v", err)
	}
	err := cluster.CheckExtensions([]string{"citext", "dblink", "postgres_fdw"}, allow)
	if !errors.Is(err, cluster.ErrExtensionRefused) || !strings.Contains(err.Error(), "dblink, postgres_fdw") {
		t.Fatalf("CheckExtensions: %v", err)
	}
}
