package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DropIdle drops database name if it exists, as Drop does, after ending its
// sessions and waiting (polling every millisecond or few, at most a second) for
// their backends to exit. DROP DATABASE ... WITH (FORCE) waits for backends
// that are still exiting in steps of 100 ms, which is most of what dropping a
// small database costs right after its last connection closed (a drill's
// scratch copy).
func (c *Cluster) DropIdle(ctx context.Context, name string) error {
	return c.withAdminDo(ctx, func(a *Admin) error { return a.DropIdle(ctx, name) })
}

// DropIdle is Cluster.DropIdle on a's connection (reopened once if lost).
func (a *Admin) DropIdle(ctx context.Context, name string) error {
	return a.again(ctx, func(conn *pgx.Conn) error { return dropIdle(ctx, conn, name) })
}

func dropIdle(ctx context.Context, conn *pgx.Conn, name string) error {
	deadline := time.Now().Add(time.Second)
	// A backend whose client has just closed is gone within a millisecond
	// or two: polled from 1 ms, doubling up to 5.
	for wait := time.Millisecond; ; wait = min(2*wait, 5*time.Millisecond) {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&n)
		if err != nil {
			return fmt.Errorf("end the sessions of database %s: %w", name, err)
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}
