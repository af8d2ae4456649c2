package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
)

// TestCutoverHoldsNewSessionsUntilItCommits: while the cut-over's renames
// are uncommitted, a new session of live waits (it is neither refused nor
// let into the old database); after the commit, a session of live is in the
// new database.
func TestCutoverHoldsNewSessionsUntilItCommits(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	live, staging, kept := swapDatabases(t, c, "co_")

	connected := make(chan error, 1)
	err := c.Cutover(ctx, live, staging, kept, cluster.CutoverOptions{
		Blocked: func(ctx context.Context, xid uint64) error {
			if blocked, err := c.Blocked(ctx, live); err != nil || !blocked {
				t.Errorf("live not held during the cut-over: %t %v", blocked, err)
			}
			go func() {
				conn, err := pgx.Connect(ctx, c.URL(live))
				if err == nil {
					var v string
					err = conn.QueryRow(ctx, `SELECT v FROM t`).Scan(&v)
					conn.Close(ctx)
					if err == nil && v == "old" {
						t.Errorf("a session got into the old database during the cut-over")
					}
				}
				connected <- err
			}()
			select {
			case err := <-connected:
				t.Errorf("a new session of live did not wait for the cut-over: %v", err)
			case <-time.After(500 * time.Millisecond):
				// still waiting, as it should: the commit lets it go
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected: // told to reconnect, or in the new database
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting session was not let go by the commit")
	}
	if got := query[string](t, c, live, `SELECT v FROM t`); got != "new" {
		t.Fatalf("live holds %q after the cut-over", got)
	}
}

// TestCutoverWhoseSessionDiesLeavesLiveReachable kills the cut-over's own
// session while it holds live: the renames roll back, live is the old
// database and takes sessions at once, and nothing is left blocked.
func TestCutoverWhoseSessionDiesLeavesLiveReachable(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	live, staging, kept := swapDatabases(t, c, "co_")

	var session cluster.CutoverSession
	err := c.Cutover(ctx, live, staging, kept, cluster.CutoverOptions{
		Begun: func(_ context.Context, s cluster.CutoverSession) error { session = s; return nil },
		Blocked: func(ctx context.Context, _ uint64) error {
			if was, err := c.EndSession(ctx, session); err != nil || !was {
				t.Errorf("end the cut-over session: %t %v", was, err)
			}
			return nil
		},
	})
	if err == nil {
		t.Fatal("a cut-over whose session died reports success")
	}
	if blocked, err := c.Blocked(ctx, live); err != nil || blocked {
		t.Fatalf("live still held: %t %v", blocked, err)
	}
	if got := query[string](t, c, live, `SELECT v FROM t`); got != "old" {
		t.Fatalf("live holds %q after a cut-over that died", got)
	}
	if st, err := c.State(ctx, live, staging, kept); err != nil || st != cluster.SwapNotStarted {
		t.Fatalf("state after a dead cut-over: %v %v", st, err)
	}
}
