package snapshots

import (
	"context"
	"fmt"

	"github.com/restoreportal/portal/internal/objstore"
)

// ReasonChanged is the reason of a snapshot put back to pending because its object
// changed after it was verified.
const ReasonChanged = "the snapshot object changed after it was verified"

// OpenVerified opens snapshot s for a restore, pinned to the object version
// verification read: every GET, the first and each ranged resume, sends If-Match with
// the recorded ETag, and the size is checked too. When S3 holds another version (or
// none) the read fails with an error wrapping objstore.ErrObjectChanged, whose message
// is ReasonChanged, and the snapshot has first been put back to pending for
// re-verification (SnapshotMarkChanged); onChanged, if set, then receives what to
// verify, for the caller to enqueue a VerifyArgs job.
func OpenVerified(ctx context.Context, d Deps, s Snapshot, onChanged func(context.Context, ToVerify)) (*objstore.Reader, error) {
	if s.ETag == "" {
		return nil, fmt.Errorf("%w: snapshot %d has no recorded object version; verify it again", ErrNotUsable, s.ID)
	}
	return objstore.NewReaderWith(ctx, d.S3, d.Bucket, s.Key, verifiedOptions(ctx, d, s, onChanged))
}

// verifiedOptions pin a read to the version of s verification read, as
// OpenVerified says.
func verifiedOptions(ctx context.Context, d Deps, s Snapshot, onChanged func(context.Context, ToVerify)) objstore.ReaderOptions {
	opts := d.S3Read
	opts.ETag, opts.Size = s.ETag, s.Size
	opts.OnChanged = func(e *objstore.ChangedError) {
		ctx := context.WithoutCancel(ctx)
		v, err := SnapshotMarkChanged(ctx, d.Pool, s.ID, e.Got)
		if err != nil {
			d.log().Error("could not mark a changed snapshot for re-verification", "snapshot_id", s.ID, "err", err)
			return
		}
		d.log().Warn("snapshot object changed after verification; marked for re-verification",
			"snapshot_id", s.ID, "key", s.Key, "verified_etag", e.Want, "etag", e.Got, "deleted", e.Deleted)
		if onChanged != nil {
			onChanged(ctx, v)
		}
	}
	return opts
}
