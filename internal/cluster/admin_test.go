package cluster_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
)

// cutBackend ends backend pid from a connection of its own, as a lost
// network or an operator's pg_terminate_backend would, and waits until the
// backend is gone.
func cutBackend(t *testing.T, c *cluster.Cluster, pid uint32) {
	t.Helper()
	ctx := context.Background()
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1::int, 5000)`, int64(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate backend %d: %v %v", pid, ok, err)
	}
}

// sessionConn makes an owner session of db on a and opens a connection of it.
func sessionConn(t *testing.T, a *cluster.Admin, db, owner string) (*cluster.Session, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	s, err := a.OwnerSession(ctx, db, owner)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, conn
}

// adminFixture is a cluster, an owner role, the name of a database dropped
// when the test ends, and an Admin of the cluster.
func adminFixture(t *testing.T, dbPrefix string) (c *cluster.Cluster, owner, db string, a *cluster.Admin) {
	t.Helper()
	c = newCluster(t)
	owner = role(t, c, testenv.Name("r_owner_"), "NOLOGIN")
	db = testenv.Name(dbPrefix)
	t.Cleanup(func() { _ = c.Drop(context.Background(), db) })
	a, err := c.OpenAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return c, owner, db, a
}

// One Admin serves a drill's steps in order: the owner's check, the create,
// the login role, the drop. The fault: its connection is cut between them.
// CREATE DATABASE is not repeated on a new connection (whether it ran would
// be unknown), though the next step finds the connection lost and opens a
// new one first; the lookups and the drops are repeated, so the copy and the
// login role are still removed.
func TestAdminReopensALostConnectionOnlyForRepeatableSteps(t *testing.T) {
	t.Parallel()
	c, owner, db, a := adminFixture(t, "t_admin_")
	ctx := context.Background()

	cutBackend(t, c, a.PID())
	if err := a.CreateOwnedDatabase(ctx, db, owner); err == nil {
		t.Fatal("CREATE DATABASE on a lost connection reported success")
	}
	if ok, err := c.Exists(ctx, db); err != nil || ok {
		t.Fatalf("after the failed create, %s exists=%v (%v)", db, ok, err)
	}

	// Known lost now: the next create runs on a new connection. Cut again
	// under a repeatable step, which then runs once more on a new one.
	if err := a.CreateOwnedDatabase(ctx, db, owner); err != nil {
		t.Fatalf("CREATE DATABASE after the connection was known lost: %v", err)
	}
	if err := c.Drop(ctx, db); err != nil {
		t.Fatal(err)
	}
	cutBackend(t, c, a.PID())
	if err := a.CheckOwnerRole(ctx, owner); err != nil {
		t.Fatalf("the owner's check on a lost connection is not repeated on a new one: %v", err)
	}
	if err := a.CreateOwnedDatabase(ctx, db, owner); err != nil {
		t.Fatal(err)
	}
	copyConn, err := c.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.ShapeOwned(ctx, copyConn, db, owner); err != nil {
		t.Fatal(err)
	}
	copyConn.Close(ctx)
	s, conn := sessionConn(t, a, db, owner)
	if _, err := conn.Exec(ctx, `CREATE TABLE public.made (id int)`); err != nil {
		t.Fatalf("the owner cannot create in the new database's schema public: %v", err)
	}
	conn.Close(ctx)

	cutBackend(t, c, a.PID())
	if err := a.DropIdle(ctx, db); err != nil {
		t.Fatalf("drop on a lost connection: %v", err)
	}
	if ok, err := c.Exists(ctx, db); err != nil || ok {
		t.Fatalf("%s still exists (%v)", db, err)
	}
	cutBackend(t, c, a.PID())
	if err := s.CloseOn(ctx, a); err != nil {
		t.Fatalf("dropping the login role on a lost connection: %v", err)
	}
	if n := query[int](t, c, "postgres", `SELECT count(*)::int FROM pg_roles WHERE rolname = '`+s.Login()+`'`); n != 0 {
		t.Fatalf("login role %s left behind", s.Login())
	}
}

// CloseOn only drops the login role once its database is gone; while the
// database exists (its drop failed) it hands what the login role made there
// to the owner first, as Close does, and drops nothing else.
func TestSessionCloseOnHandsOverWhileTheDatabaseExists(t *testing.T) {
	t.Parallel()
	c, owner, db, a := adminFixture(t, "t_closeon_")
	ctx := context.Background()
	if err := c.CreateOwned(ctx, db, owner); err != nil {
		t.Fatal(err)
	}
	s, conn := sessionConn(t, a, db, owner)
	// Made by the login role itself (not as the owner), with the owner's leave.
	if _, err := conn.Exec(ctx, `CREATE SCHEMA s; GRANT CREATE ON SCHEMA s TO `+pgx.Identifier{s.Login()}.Sanitize()+`; RESET ROLE; CREATE TABLE s.by_login (id int)`); err != nil {
		t.Fatal(err)
	}
	// Left open: CloseOn ends the login role's sessions.
	defer conn.Close(ctx)
	if err := s.CloseOn(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := query[string](t, c, db, `SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'by_login'`); got != owner {
		t.Fatalf("the login role's table is owned by %s after CloseOn, want %s", got, owner)
	}
	if n := query[int](t, c, "postgres", `SELECT count(*)::int FROM pg_roles WHERE rolname = '`+s.Login()+`'`); n != 0 {
		t.Fatalf("login role %s left behind", s.Login())
	}
	if ok, err := c.Exists(ctx, db); err != nil || !ok {
		t.Fatalf("CloseOn dropped the database (%v)", err)
	}
}
