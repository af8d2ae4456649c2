package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// DropIdle drops a database whose sessions are open or just closed (still
// exiting), ending them, and is a no-op for a database that is gone.
func TestDropIdleEndsSessionsAndDrops(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	name := fmt.Sprintf("dropidle_%d", time.Now().UnixNano())
	makeDB(t, c, name, "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)")
	open := session(t, c, name)
	defer open.Close(ctx)
	session(t, c, name).Close(ctx)
	if err := c.DropIdle(ctx, name); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Exists(ctx, name); err != nil || ok {
		t.Fatalf("database %s still exists (%v)", name, err)
	}
	if err := open.Ping(ctx); err == nil {
		t.Fatal("the open session of the dropped database still answers")
	}
	if err := c.DropIdle(ctx, name); err != nil {
		t.Fatalf("dropping a database that is gone: %v", err)
	}
}
