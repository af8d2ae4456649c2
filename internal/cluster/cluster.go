// Package cluster performs the database-level steps of restores on the
// project cluster: creating and dropping databases, the atomic cut-over
// that swaps a staging database in for the live one, and checksums that
// prove a live database was left unchanged. Table-level steps are in
// tables.go. Names come from code, never from people; they are quoted.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// Cluster is the Postgres cluster hosting project databases.
type Cluster struct {
	adminURL string
	name     string // its name in a Registry, if any
}

// New returns the cluster reached through a superuser URL.
func New(adminURL string) (*Cluster, error) {
	if _, err := pgx.ParseConfig(adminURL); err != nil {
		return nil, fmt.Errorf("project cluster URL: %w", err)
	}
	return &Cluster{adminURL: adminURL}, nil
}

// URL is the connection URL of database name (with the admin credentials).
func (c *Cluster) URL(name string) string {
	u, err := url.Parse(c.adminURL)
	if err != nil {
		return ""
	}
	u.Path = "/" + name
	return u.String()
}

// Address describes how to reach database name, without credentials, for
// tickets and pages.
func (c *Cluster) Address(name string) string {
	cfg, err := pgx.ParseConfig(c.adminURL)
	if err != nil {
		return name
	}
	return fmt.Sprintf("host=%s port=%d dbname=%s", cfg.Host, cfg.Port, name)
}

// Connect opens a connection to database name.
func (c *Cluster) Connect(ctx context.Context, name string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, c.URL(name))
	if err != nil {
		return nil, fmt.Errorf("connect to database %s: %w", name, err)
	}
	return conn, nil
}

func (c *Cluster) admin(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, c.adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to the project cluster: %w", err)
	}
	return conn, nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// Admin is one admin (superuser) connection to the cluster's maintenance
// database, held for a run of steps that would otherwise each open their
// own (a drill's: the owner role's check, the scratch database's create and
// drop, its login role's create and drop). Every new connection costs a
// backend fork and an authentication. An Admin is not safe for concurrent
// use. A connection known to be lost is replaced before a step; the steps
// that may be repeated (the lookups and the drops) also run once more on a
// new connection when it is lost under them. CREATE DATABASE and the login
// role's creation are not repeated: a step whose outcome is unknown fails.
type Admin struct {
	c    *Cluster
	conn *pgx.Conn
}

// OpenAdmin opens an Admin; Close closes it.
func (c *Cluster) OpenAdmin(ctx context.Context) (*Admin, error) {
	conn, err := c.admin(ctx)
	if err != nil {
		return nil, err
	}
	return &Admin{c: c, conn: conn}, nil
}

// Close closes the connection.
func (a *Admin) Close(ctx context.Context) { _ = a.conn.Close(context.WithoutCancel(ctx)) }

// Cluster is the cluster a is connected to.
func (a *Admin) Cluster() *Cluster { return a.c }

// Name is the name of a's cluster.
func (a *Admin) Name() string { return a.c.Name() }

// PID is the process id of the connection's backend (for tests that cut it).
func (a *Admin) PID() uint32 { return a.conn.PgConn().PID() }

// live is a's connection, a new one if it is known to be lost (so nothing
// of a statement run on it now has run before).
func (a *Admin) live(ctx context.Context) (*pgx.Conn, error) {
	if !a.conn.IsClosed() {
		return a.conn, nil
	}
	conn, err := a.c.admin(ctx)
	if err != nil {
		return nil, err
	}
	a.conn = conn
	return conn, nil
}

// again runs f on a's connection and, when that connection turns out to be
// lost, once more on a new one: f must be safe to repeat.
func (a *Admin) again(ctx context.Context, f func(conn *pgx.Conn) error) error {
	err := f(a.conn)
	if err == nil || !a.conn.IsClosed() || ctx.Err() != nil {
		return err
	}
	conn, cerr := a.c.admin(ctx)
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	a.conn = conn
	return f(conn)
}

// withAdmin runs f on an Admin of its own: the Cluster methods that are
// one step.
func withAdmin[T any](ctx context.Context, c *Cluster, f func(a *Admin) (T, error)) (T, error) {
	a, err := c.OpenAdmin(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	defer a.Close(ctx)
	return f(a)
}

// withAdminDo is withAdmin for a step that returns only an error.
func (c *Cluster) withAdminDo(ctx context.Context, f func(a *Admin) error) error {
	_, err := withAdmin(ctx, c, func(a *Admin) (struct{}, error) { return struct{}{}, f(a) })
	return err
}

// Exists tells whether database name exists.
func (c *Cluster) Exists(ctx context.Context, name string) (bool, error) {
	return withAdmin(ctx, c, func(a *Admin) (bool, error) { return a.Exists(ctx, name) })
}

// Exists tells whether database name exists.
func (a *Admin) Exists(ctx context.Context, name string) (ok bool, err error) {
	err = a.again(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok)
	})
	return ok, err
}

// Create makes an empty database.
func (c *Cluster) Create(ctx context.Context, name string) error {
	conn, err := c.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Drop removes database name if it exists, ending its sessions.
func (c *Cluster) Drop(ctx context.Context, name string) error {
	conn, err := c.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// ErrSwapState means the databases of a cut-over are in a state the swap
// cannot start from (say, the kept name is taken).
var ErrSwapState = errors.New("cut-over: unexpected database state")

// SwapState says how far a cut-over of live/staging/kept got, read from which
// of the three databases exist. Because the two renames commit together, a
// cut-over is either not done (live and staging exist) or done (live and
// kept exist, staging does not).
type SwapState int

const (
	SwapNotStarted SwapState = iota // live and staging exist, kept does not
	SwapDone                        // live and kept exist, staging does not
	SwapUnknown                     // anything else: needs a person
)

// State reads the cut-over state of the three names.
func (c *Cluster) State(ctx context.Context, live, staging, kept string) (SwapState, error) {
	conn, err := c.admin(ctx)
	if err != nil {
		return SwapUnknown, err
	}
	defer conn.Close(ctx)
	has := map[string]bool{}
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname = ANY($1)`, []string{live, staging, kept})
	if err != nil {
		return SwapUnknown, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return SwapUnknown, err
	}
	for _, n := range names {
		has[n] = true
	}
	switch {
	case has[live] && has[staging] && !has[kept]:
		return SwapNotStarted, nil
	case has[live] && has[kept] && !has[staging]:
		return SwapDone, nil
	default:
		return SwapUnknown, fmt.Errorf("%w: live %s exists=%t, staging %s exists=%t, kept %s exists=%t",
			ErrSwapState, live, has[live], staging, has[staging], kept, has[kept])
	}
}

// Swap is the cut-over: in one transaction it renames live to kept and
// staging to live, ending the sessions of both and holding new ones off until
// it commits (Cutover). The renames commit together, so a crash leaves either
// the old or the new database live, never neither, and never a block behind.
func (c *Cluster) Swap(ctx context.Context, live, staging, kept string) error {
	return c.Cutover(ctx, live, staging, kept, CutoverOptions{})
}

// AllowConnections lets sessions into each database of names that exists
// again. Cut-overs made before Cutover blocked connections with
// ALLOW_CONNECTIONS, a flag that outlived a killed worker; a retry still
// lifts such a block first.
func (c *Cluster) AllowConnections(ctx context.Context, names ...string) error {
	conn, err := c.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname = ANY($1) AND NOT datallowconn`, names)
	if err != nil {
		return err
	}
	blocked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, db := range blocked {
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(db)+" ALLOW_CONNECTIONS true"); err != nil {
			return fmt.Errorf("allow connections to %s: %w", db, err)
		}
	}
	return nil
}

// Checksum is a digest of database name's user schema and every row of every
// user table, ordered, to prove a database was not changed.
func (c *Cluster) Checksum(ctx context.Context, name string) (string, error) {
	conn, err := c.Connect(ctx, name)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	return Checksum(ctx, conn)
}

// Checksum digests the database conn is connected to; see Cluster.Checksum.
func Checksum(ctx context.Context, conn *pgx.Conn) (string, error) {
	h := sha256.New()
	rows, err := conn.Query(ctx, `
		SELECT format('%I.%I', n.nspname, c.relname),
		       string_agg(format('%s %s %s', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull), ',' ORDER BY a.attnum)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		GROUP BY 1, c.relkind ORDER BY 1`)
	if err != nil {
		return "", fmt.Errorf("checksum: list relations: %w", err)
	}
	type rel struct{ name, cols string }
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		return x, r.Scan(&x.name, &x.cols)
	})
	if err != nil {
		return "", err
	}
	tables, err := userTables(ctx, conn)
	if err != nil {
		return "", err
	}
	for _, r := range rels {
		fmt.Fprintf(h, "rel %s (%s)\n", r.name, r.cols)
	}
	for _, t := range tables {
		var digest string
		q := `SELECT coalesce(md5(string_agg(x::text, E'\n' ORDER BY x::text)), '') FROM ` + t + ` x`
		if err := conn.QueryRow(ctx, q).Scan(&digest); err != nil {
			return "", fmt.Errorf("checksum %s: %w", t, err)
		}
		fmt.Fprintf(h, "rows %s %s\n", t, digest)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// userTables lists the quoted names of ordinary tables with rows (partition
// children, not their parents), in name order.
func userTables(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `
		SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
