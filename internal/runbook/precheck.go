package runbook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
)

// precheckBytes is how much of the object the cheap check reads.
const precheckBytes = 64 << 10

// precheck is the cheap look at a snapshot before anything expensive (the
// safety snapshot, a staging database): the object exists with the verified
// size (and ETag, when known), its gzip header reads and its first entries
// parse. A truncated or replaced object is refused here. Then the dump's
// extensions are checked against the allowlist (checkExtensions reads the
// pre-data, pinned to the verified version): all before anything changes.
func (r *restoreRun) precheck(ctx context.Context, snap snapshots.Snapshot) error {
	if err := r.precheckObject(ctx, snap); err != nil {
		return err
	}
	return r.checkExtensions(ctx, snap)
}

func (r *restoreRun) precheckObject(ctx context.Context, snap snapshots.Snapshot) error {
	// One ranged GET: its Content-Range carries the object's size, and its
	// body the first bytes.
	bucket := r.d.Config.S3.Bucket
	obj, err := r.d.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &snap.Key,
		Range: aws.String(fmt.Sprintf("bytes=0-%d", precheckBytes-1))})
	if err != nil {
		return fmt.Errorf("snapshot %s cannot be read from S3: %w", snap.Key, err)
	}
	size := aws.ToInt64(obj.ContentLength)
	if cr := aws.ToString(obj.ContentRange); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				size = n
			}
		}
	}
	etag := strings.Trim(aws.ToString(obj.ETag), `"`)
	if size != snap.Size {
		obj.Body.Close()
		return r.objectChanged(ctx, snap, etag, fmt.Sprintf("snapshot %s is %d bytes in S3, the verified snapshot has %d: it was cut short or replaced", snap.Key, size, snap.Size))
	}
	if snap.ETag != "" && etag != strings.Trim(snap.ETag, `"`) {
		obj.Body.Close()
		return r.objectChanged(ctx, snap, etag, fmt.Sprintf("snapshot %s has ETag %s in S3, the verified snapshot had %s", snap.Key, etag, snap.ETag))
	}
	defer func() {
		// Read the rest of the small range, so its connection is reused.
		_, _ = io.Copy(io.Discard, obj.Body)
		obj.Body.Close()
	}()
	gz, err := seekgz.NewReader(obj.Body)
	if err != nil {
		return fmt.Errorf("snapshot %s: not gzip: %w", snap.Key, err)
	}
	rd := extract.NewReader(gz)
	for n := 0; n < 3; n++ {
		_, err := rd.Next()
		switch {
		case err == nil:
			continue
		case n > 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			return nil // the first bytes read; the range ends mid-stream
		default:
			return fmt.Errorf("snapshot %s: its first entries do not read: %w", snap.Key, err)
		}
	}
	return nil
}

// objectChanged fails a restore whose object is no longer the verified
// version, as the pinned reader would (objstore.ErrObjectChanged), and sends
// the snapshot back to verification.
func (r *restoreRun) objectChanged(ctx context.Context, snap snapshots.Snapshot, etag, detail string) error {
	ctx = context.WithoutCancel(ctx)
	if v, err := snapshots.SnapshotMarkChanged(ctx, r.d.Pool, snap.ID, etag); err != nil {
		r.log.Error("could not mark a changed snapshot for re-verification", "snapshot_id", snap.ID, "err", err)
	} else {
		r.d.enqueueVerify(ctx, v)
	}
	return fmt.Errorf("%w: %s; nothing was changed", objstore.ErrObjectChanged, detail)
}

// checkRowCounts compares the rows a restore copied with the verified
// snapshot's inventory: a table restored with other counts (the object was
// substituted, or the apply lost rows) fails the restore before the cut-over.
func (r *restoreRun) checkRowCounts(ctx context.Context, snap snapshots.Snapshot, res *restore.Result) error {
	inv, err := snapshots.SnapshotTables(ctx, r.d.Pool, snap.ID)
	if err != nil {
		return fmt.Errorf("inventory of snapshot %d: %w", snap.ID, err)
	}
	want := map[string]int64{}
	for _, t := range inv {
		if t.HasData {
			want[extract.QualifiedName{Schema: t.Schema, Name: t.Name}.String()] = t.Rows
		}
	}
	var bad []string
	for _, t := range res.Tables {
		name := t.Table.String()
		if n, ok := want[name]; ok && n != t.CopiedRows {
			bad = append(bad, fmt.Sprintf("%s: %d rows restored, the verified snapshot has %d", name, t.CopiedRows, n))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("the restored rows do not match the verified snapshot, nothing live was changed: %s", strings.Join(bad, "; "))
	}
	return nil
}
