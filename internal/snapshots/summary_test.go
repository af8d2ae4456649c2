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
	go func() {
		done <- pgx.BeginFunc(ctx, pool, func(txB pgx.Tx) error {
			if err := snapshotSetCorrupt(ctx, txB, ids[1], "no completion trailer"); err != nil {
				return err
			}
			return SummaryRefresh(ctx, txB, []string{"proj-s"})
		})
	}()
	time.Sleep(300 * time.Millisecond) // B has refreshed, or waits for A
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
