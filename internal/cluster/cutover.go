package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// A cut-over blocks sessions of the live database only while the session
// doing it lives. It does not use ALLOW_CONNECTIONS (a catalog flag that
// outlives the process that set it: a worker killed between blocking and
// renaming left live refusing every connection until another worker came).
// Instead the block is the lock ALTER DATABASE RENAME takes on the database
// inside one open transaction: Postgres makes every new session of a
// database take a lock that conflicts with it, so new sessions wait, and
// they go on as soon as that transaction ends, by commit (they then find
// the new database under the name, or are told to reconnect) or by the
// session dying (abort: the old database is still live). Nothing is left to
// lift by hand.

// CutoverOptions tune Cutover.
type CutoverOptions struct {
	// Begun is told the cut-over session (its backend pid and start time)
	// right after its transaction began, before anything is locked: the
	// caller records the block before it is taken.
	Begun func(ctx context.Context, s CutoverSession) error
	// Blocked runs with both renames done and uncommitted, connections to
	// both names held: told the transaction's id, the caller records it, so a
	// retry can ask the cluster whether the cut-over committed
	// (Cluster.XactStatus). An error rolls the cut-over back.
	Blocked func(ctx context.Context, xid uint64) error
	// IdleTimeout bounds how long the block outlives a worker that vanished
	// without closing its connection (node loss): the cut-over session's
	// idle_in_transaction_session_timeout (default 10s).
	IdleTimeout time.Duration
}

// CutoverSession identifies the Postgres session holding a cut-over's block.
type CutoverSession struct {
	PID          int
	BackendStart time.Time
}

// Cutover renames live to outgoing and incoming to live in one transaction
// of a session whose locks block new sessions of both databases until it
// ends. The sessions already connected to either are ended (and any that
// slip in while the renames wait for them). A crash at any point leaves
// either the old or the new database live, and accepting connections.
func (c *Cluster) Cutover(ctx context.Context, live, incoming, outgoing string, opt CutoverOptions) error {
	conn, err := c.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	killer, err := c.admin(ctx)
	if err != nil {
		return err
	}
	defer killer.Close(context.WithoutCancel(ctx))

	idle := cmpDur(opt.IdleTimeout, 10*time.Second)
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET idle_in_transaction_session_timeout = %d; SET lock_timeout = '10s'; SET statement_timeout = '60s'",
		idle.Milliseconds())); err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	var s CutoverSession
	if err := tx.QueryRow(ctx, `SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&s.PID, &s.BackendStart); err != nil {
		return fmt.Errorf("cut-over session: %w", err)
	}
	if opt.Begun != nil {
		if err := opt.Begun(ctx, s); err != nil {
			return err
		}
	}
	rename := func(from, to string) error {
		return whileEnding(ctx, killer, s.PID, []string{live, incoming}, func() error {
			_, err := tx.Exec(ctx, "ALTER DATABASE "+ident(from)+" RENAME TO "+ident(to))
			return err
		})
	}
	if err := rename(live, outgoing); err != nil {
		return fmt.Errorf("cut-over: rename %s to %s: %w", live, outgoing, err)
	}
	if err := rename(incoming, live); err != nil {
		return fmt.Errorf("cut-over: rename %s to %s: %w", incoming, live, err)
	}
	var xidText string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xidText); err != nil {
		return err
	}
	xid, err := strconv.ParseUint(xidText, 10, 64)
	if err != nil {
		return fmt.Errorf("transaction id %q: %w", xidText, err)
	}
	if opt.Blocked != nil {
		if err := opt.Blocked(ctx, xid); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit the cut-over: %w", err)
	}
	return nil
}

// whileEnding runs stmt (a rename, which holds its database's lock and waits
// up to 5s for the database's other sessions to leave) while killer ends
// every session of dbs but self's, until stmt returns.
func whileEnding(ctx context.Context, killer *pgx.Conn, self int, dbs []string, stmt func() error) error {
	end := func() error {
		_, err := killer.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = ANY($1) AND pid <> $2 AND pid <> pg_backend_pid()`, dbs, self)
		return err
	}
	if err := end(); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = end()
			}
		}
	}()
	err := stmt()
	close(done)
	wg.Wait()
	return err
}

// ErrSessionAlive means a recorded cut-over session did not end when told.
var ErrSessionAlive = errors.New("the cut-over session is still there")

// EndSession ends the recorded cut-over session s if it still exists (its
// worker is gone, its connection lingers: a lost node), and waits until it
// has gone, so its transaction is over. It reports whether it was there.
func (c *Cluster) EndSession(ctx context.Context, s CutoverSession) (bool, error) {
	conn, err := c.admin(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	was := false
	for i := 0; i < 100; i++ {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE pid = $1 AND backend_start = $2`, s.PID, s.BackendStart).Scan(&n); err != nil {
			return was, fmt.Errorf("end cut-over session %d: %w", s.PID, err)
		}
		if n == 0 {
			return was, nil
		}
		was = true
		select {
		case <-ctx.Done():
			return was, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return was, fmt.Errorf("%w: pid %d after 10s", ErrSessionAlive, s.PID)
}

// XactStatus asks the cluster whether transaction xid committed, as the
// package-level XactStatus does on a connection.
func (c *Cluster) XactStatus(ctx context.Context, xid uint64) (string, error) {
	conn, err := c.admin(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	return XactStatus(ctx, conn, xid)
}

// Blocked tells whether a session holds the cut-over lock on database name
// (new sessions of it wait), for tests and the ticket page.
func (c *Cluster) Blocked(ctx context.Context, name string) (bool, error) {
	return adminValue[bool](ctx, c, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.objid
		WHERE l.locktype = 'object' AND l.classid = 'pg_database'::regclass AND l.mode = 'AccessExclusiveLock' AND l.granted
		  AND d.datname = $1)`, name)
}
