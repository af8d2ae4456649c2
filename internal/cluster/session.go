package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LoginPrefix starts the name of every short-lived login role a Session
// makes, so that stale ones (a killed worker's) can be found and dropped.
const LoginPrefix = "portal_restore_"

// Session is a way to run SQL as a project's owner role without its
// password and without a superuser behind it: a short-lived login role that
// is NOINHERIT, has no attributes, is a member of the owner role only, and
// whose connections SET ROLE to the owner at start. Objects they make are
// owned by the owner. Should a statement RESET ROLE, it falls back to the
// login role, which has fewer rights than the owner, never to a superuser.
// The password is random, sent to the server only as a SCRAM verifier, and
// never logged. Close drops the role, first handing anything it came to own
// to the owner.
type Session struct {
	c        *Cluster
	db       string
	owner    string
	login    string
	password string
}

// OwnerSession makes a Session for database db and owner role owner. It
// refuses an owner that is privileged (see CheckOwnerRole).
func (c *Cluster) OwnerSession(ctx context.Context, db, owner string) (*Session, error) {
	return withAdmin(ctx, c, func(a *Admin) (*Session, error) { return a.OwnerSession(ctx, db, owner) })
}

// OwnerSession is Cluster.OwnerSession on a's connection. The login role
// and its grant on db are made in one transaction: either both or neither.
func (a *Admin) OwnerSession(ctx context.Context, db, owner string) (*Session, error) {
	conn, err := a.live(ctx)
	if err != nil {
		return nil, err
	}
	rights, err := roleRights(ctx, conn, owner)
	if err != nil {
		return nil, err
	}
	if err := privilegedError(owner, rights); err != nil {
		return nil, err
	}
	dropExpiredLogins(ctx, conn)
	s := &Session{c: a.c, db: db, owner: owner, login: LoginPrefix + randomHex(8), password: randomHex(24)}
	until := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	// One round trip; the simple protocol runs the two as one transaction.
	// NOINHERIT: CONNECT granted to the owner alone would not let it in.
	_, err = conn.Exec(ctx, "CREATE ROLE "+ident(s.login)+
		" LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"+
		" PASSWORD "+literal(scramVerifier(s.password))+" VALID UNTIL "+literal(until)+
		" IN ROLE "+ident(owner)+
		"; GRANT CONNECT, TEMPORARY ON DATABASE "+ident(db)+" TO "+ident(s.login))
	if err != nil {
		return nil, fmt.Errorf("create the restore's login role, allowed to connect to %s: %w", db, err)
	}
	return s, nil
}

// Owner is the role the session's connections act as.
func (s *Session) Owner() string { return s.owner }

// Login is the short-lived role the session's connections log in as.
func (s *Session) Login() string { return s.login }

// URL reaches the session's database as its login role. It holds the
// password: never log or store it. Whoever connects with it must SET ROLE to
// Owner first (restore.Options.Role does; Connect does).
func (s *Session) URL() string {
	u, _ := s.c.loginURL(s.db, s.login, s.password)
	return u
}

// Config is the connection config of the session: it logs in as the login
// role and sets the owner role before anything else runs.
func (s *Session) Config() (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(s.URL())
	if err != nil {
		return nil, err
	}
	owner := s.owner
	cfg.AfterConnect = func(ctx context.Context, c *pgconn.PgConn) error {
		return c.Exec(ctx, "SET ROLE "+ident(owner)).Close()
	}
	return cfg, nil
}

// Connect opens a connection acting as the owner role.
func (s *Session) Connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := s.Config()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s as owner %s: %w", s.db, s.owner, err)
	}
	return conn, nil
}

// Close ends the login role's sessions, hands whatever it owns in the
// database to the owner, removes its grants and drops it.
func (s *Session) Close(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	conn, err := s.c.Connect(ctx, s.db)
	if err != nil {
		// The database is gone (a failed restore dropped it): nothing is
		// owned there any more; drop the role from the admin database.
		if conn, err = s.c.admin(ctx); err != nil {
			return err
		}
	} else if err := s.reassign(ctx, conn); err != nil {
		conn.Close(ctx)
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(s.login)); err != nil {
		return fmt.Errorf("drop the restore's login role %s: %w", s.login, err)
	}
	return nil
}

// CloseOn is Close on a's connection for a session whose database has been
// dropped (a drill's, after its copy is dropped): nothing can be owned there
// any more, so it only drops the login role. While the database still
// exists it is Close.
func (s *Session) CloseOn(ctx context.Context, a *Admin) error {
	ctx = context.WithoutCancel(ctx)
	exists, err := a.Exists(ctx, s.db)
	if err != nil {
		return err
	}
	if exists {
		return s.Close(ctx)
	}
	return a.again(ctx, func(conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(s.login)); err != nil {
			return fmt.Errorf("drop the restore's login role %s: %w", s.login, err)
		}
		return nil
	})
}

func (s *Session) reassign(ctx context.Context, conn *pgx.Conn) error {
	for i := 0; ; i++ {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1`, s.login).Scan(&n)
		if err != nil {
			return fmt.Errorf("end sessions of %s: %w", s.login, err)
		}
		if n == 0 {
			break
		}
		if i == 100 {
			return fmt.Errorf("sessions of %s did not end within 10s", s.login)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, sql := range []string{
		"REASSIGN OWNED BY " + ident(s.login) + " TO " + ident(s.owner),
		"DROP OWNED BY " + ident(s.login),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}

// dropExpiredLogins drops login roles of sessions whose worker died before
// Close (past their VALID UNTIL). One that still owns something stays, to be
// looked at; failures are not fatal.
func dropExpiredLogins(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) AND rolvaliduntil < now()`, LoginPrefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(n))
	}
}

// RoleConn is one connection acting as a role through a Session of its own;
// Close closes both.
type RoleConn struct {
	*pgx.Conn
	s *Session
}

// ConnectAs opens a connection to database db acting as role (which must be
// unprivileged), with no superuser to fall back to: see Session. For
// portal-written SQL that touches customer objects (column diffs, copying
// rows into a live database), so customer code it triggers runs as the owner.
func (c *Cluster) ConnectAs(ctx context.Context, db, role string) (*RoleConn, error) {
	s, err := c.OwnerSession(ctx, db, role)
	if err != nil {
		return nil, err
	}
	conn, err := s.Connect(ctx)
	if err != nil {
		_ = s.Close(ctx)
		return nil, err
	}
	return &RoleConn{Conn: conn, s: s}, nil
}

// Close closes the connection and drops its login role.
func (rc *RoleConn) Close(ctx context.Context) error {
	err := rc.Conn.Close(ctx)
	return errors.Join(err, rc.s.Close(ctx))
}

// CheckUnprivileged returns nil when conn can reach no superuser rights: the
// role it logged in as and the role it acts as are both unprivileged (see
// RoleRights). Code that runs customer SQL can assert it on its connection.
func CheckUnprivileged(ctx context.Context, conn *pgx.Conn) error {
	var session, current string
	if err := conn.QueryRow(ctx, `SELECT session_user, current_user`).Scan(&session, &current); err != nil {
		return err
	}
	for _, r := range []string{session, current} {
		rights, err := roleRights(ctx, conn, r)
		if err != nil {
			return err
		}
		if err := privilegedError(r, rights); err != nil {
			return err
		}
	}
	return nil
}

// scramVerifier is the SCRAM-SHA-256 verifier Postgres stores for password,
// so that the password itself never reaches the server (or its log).
func scramVerifier(password string) string {
	const iterations = 4096
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	salted, _ := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(server))
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ConnectOwner opens a connection to database db acting as the role that
// owns it (through a Session), refusing a privileged owner: for steps that
// run portal SQL on a live database whose owner is not recorded.
func (c *Cluster) ConnectOwner(ctx context.Context, db string) (*RoleConn, error) {
	owner, err := c.DatabaseOwner(ctx, db)
	if err != nil {
		return nil, err
	}
	return c.ConnectAs(ctx, db, owner)
}
