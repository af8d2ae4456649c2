package cluster

import (
	"context"
	"time"
)

// StartedAt is when the cluster's postmaster started
// (pg_postmaster_start_time()): a later value than one read before means
// the cluster restarted in between, which is how a restore tells a dropped
// connection of a restart from other broken streams.
func (c *Cluster) StartedAt(ctx context.Context) (time.Time, error) {
	return adminValue[time.Time](ctx, c, `SELECT pg_postmaster_start_time()`)
}

// adminValue runs a one-value query (sql, args) over an admin session of
// its own and returns the value.
func adminValue[T any](ctx context.Context, c *Cluster, sql string, args ...any) (T, error) {
	var v T
	conn, err := c.admin(ctx)
	if err != nil {
		return v, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, sql, args...).Scan(&v)
	return v, err
}
