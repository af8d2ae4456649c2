package snapshots

import (
	"context"
	"testing"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/testenv"
)

// TestInsertNow checks that "Sync now" and "Snapshot now" enqueue, through an
// insert-only River client as the portal has, a full sync of the project and
// a manual capture on the capture queue.
func TestInsertNow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	rc := testenv.InsertOnlyRiver(t, pool)
	if err := InsertSyncNow(ctx, rc, "proj-now"); err != nil {
		t.Fatal(err)
	}
	if err := InsertCaptureNow(ctx, rc, "proj-now"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ kind, queue, args string }{
		{"snapshot_sync", river.QueueDefault, `{"ref": "proj-now", "full": true}`},
		{"snapshot_capture", QueueCapture, `{"ref": "proj-now", "manual": true}`},
	} {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND queue = $2 AND args = $3::jsonb`,
			want.kind, want.queue, want.args).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d %s jobs on queue %s with args %s, want 1", n, want.kind, want.queue, want.args)
		}
	}
}
