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
	conn, err := c.admin(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close(ctx)
	var t time.Time
	err = conn.QueryRow(ctx, `SELECT pg_postmaster_start_time()`).Scan(&t)
	return t, err
}
