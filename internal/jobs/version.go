package jobs

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/snapshots"
)

// enqueueVerify inserts the verification of a snapshot whose object changed after it
// was verified (snapshots.OpenVerified put it back to pending), with the River client
// of the job that found it, so the catalog learns the new version without waiting
// for the sync's sweep.
func (d Deps) enqueueVerify(ctx context.Context, v snapshots.ToVerify) {
	rc, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err == nil {
		_, err = rc.InsertMany(ctx, verifyParams([]snapshots.ToVerify{v}))
	}
	if err != nil && d.Log != nil {
		d.Log.Warn("could not enqueue the re-verification of a changed snapshot; the sync's sweep will",
			"snapshot_id", v.ID, "err", err)
	}
}
