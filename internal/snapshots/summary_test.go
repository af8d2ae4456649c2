package snapshots

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/testenv"
)

// TestSummaryRefreshOfConcurrentVerifications forces the interleaving of two
// verifications of one project: the second refreshes the summary while the
// first has not committed. The summary must count both outcomes.
func TestSummaryRefreshOfConcurrentVerifications(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	if err := ProjectEnsure(ctx, pool, []string{"proj-s"}); err != nil {
		t.Fatal(err)
	}
	var ids [2]int64
	for i := range ids {
		if err := pool.QueryRow(ctx, `INSERT INTO snapshots (project_ref, key, size, etag, status, kind)
			VALUES ('proj-s', $1, 200, 'e', 'pending', 'automatic') RETURNING id`, "daily/proj-s/2026050"+string(rune('1'+i))+"T020000Z.sql.gz").Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	txA, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	if err := snapshotSetCorrupt(ctx, txA, ids[0], "truncated gzip at byte 9"); err != nil {
		t.Fatal(err)
	}
	if err := SummaryRefresh(ctx, txA, []string{"proj-s"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	pidB := make(chan uint32, 1)
	go func() {
		done <- pgx.BeginFunc(ctx, pool, func(txB pgx.Tx) error {
			pidB <- txB.Conn().PgConn().PID()
			if err := snapshotSetCorrupt(ctx, txB, ids[1], "no completion trailer"); err != nil {
				return err
			}
			return SummaryRefresh(ctx, txB, []string{"proj-s"})
		})
	}()
	// Commit A only once B waits for A's lock: that is the interleaving
	// that lost B's verification before the per-project lock.
	pid := <-pidB
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted)`, int32(pid)).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second verification never waited for the first one's lock")
		}
		time.Sleep(10 * time.Millisecond) // polling pg_locks, not standing in for it
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sum, err := ProjectSummaryGet(ctx, pool, "proj-s", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if sum.CorruptCount != 2 || sum.PendingCount != 0 {
		t.Fatalf("summary after two verifications: corrupt %d pending %d, want 2 and 0", sum.CorruptCount, sum.PendingCount)
	}
}
