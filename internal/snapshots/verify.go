package snapshots

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/seekgz"
)

// Verify streams snapshot id from S3 (ranged GETs that resume after a broken
// connection) through gunzip and the dump reader, and records the outcome:
// verified with its table inventory and dump metadata, or corrupt with a
// reason a person can act on ("only 37 bytes", "truncated gzip at byte N",
// "no completion trailer", "forbidden meta-command at line 12: \!", "refused
// statement at line 123: ALTER SYSTEM" from the statement gate, extract.CheckEntry).
//
// An error means the check could not run (S3 or the database failed) and the
// snapshot stays pending; a corrupt snapshot is not an error.
func Verify(ctx context.Context, d Deps, id int64) (Snapshot, error) {
	s, err := SnapshotGet(ctx, d.Pool, id)
	if err != nil {
		return Snapshot{}, err
	}
	if s.DeletedAt != nil {
		return s, nil
	}
	out, err := inspect(ctx, d, s.Key)
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		if _, err := snapshotMarkDeleted(ctx, d.Pool, []int64{id}, s.FirstSeen.Add(time.Millisecond), "gone from S3"); err != nil {
			return s, err
		}
		return s, errors.Join(SummaryRefresh(ctx, d.Pool, []string{s.ProjectRef}), refetch(ctx, d, &s))
	}
	if err != nil {
		return s, fmt.Errorf("verify snapshot %d (%s): %w", id, s.Key, err)
	}
	err = pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		if out.reason != "" {
			if err := snapshotSetCorrupt(ctx, tx, id, out.reason); err != nil {
				return err
			}
		} else if err := snapshotSetVerified(ctx, tx, id, out.etag, out.size, out.inv, out.uncompressed); err != nil {
			return err
		}
		return SummaryRefresh(ctx, tx, []string{s.ProjectRef})
	})
	if err != nil {
		return s, fmt.Errorf("record verification of snapshot %d: %w", id, err)
	}
	if out.reason != "" {
		d.log().Warn("snapshot corrupt", "snapshot_id", id, "key", s.Key, "reason", out.reason)
	} else {
		// A missing index only costs later table restores a full read, which
		// they say; it does not make the snapshot less verified.
		n, err := storeIndex(ctx, d, id, s.Key, out.index)
		if err != nil {
			d.log().Warn("snapshot verified; its access index could not be stored", "snapshot_id", id, "key", s.Key, "err", err)
		}
		d.log().Info("snapshot verified", "snapshot_id", id, "key", s.Key, "tables", len(out.inv.Tables),
			"uncompressed_bytes", out.uncompressed, "index_bytes", n, "checkpoints", len(out.index.Checkpoints))
	}
	return s, refetch(ctx, d, &s)
}

func refetch(ctx context.Context, d Deps, s *Snapshot) error {
	n, err := SnapshotGet(ctx, d.Pool, s.ID)
	if err == nil {
		*s = n
	}
	return err
}

// inspection is the outcome of reading one object.
type inspection struct {
	reason       string // empty when the dump is complete and clean
	etag         string
	size         int64
	uncompressed int64
	inv          *extract.InventoryResult
	index        *seekgz.Index // the access index, built in the same pass
}

// sourceReader tags the errors of the S3 stream, so a network failure is
// told apart from a corrupt dump.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// inspect reads key to the end and classifies it.
func inspect(ctx context.Context, d Deps, key string) (inspection, error) {
	obj, err := objstore.NewReaderWith(ctx, d.S3, d.Bucket, key, d.S3Read)
	if err != nil {
		return inspection{}, err
	}
	defer obj.Close()
	out := inspection{etag: obj.ETag(), size: obj.Size()}
	if obj.Size() < MinSize {
		out.reason = fmt.Sprintf("only %d bytes", obj.Size())
		return out, nil
	}
	src := &sourceReader{r: obj}
	zr, err := seekgz.NewReader(src)
	if err != nil {
		if src.err != nil {
			return out, src.err
		}
		out.reason = gzipReason(err, obj.Offset())
		if errors.Is(err, gzip.ErrHeader) {
			out.reason = "not gzip (bad header)"
		}
		return out, nil
	}
	plain := &countReader{r: zr}
	ix := &seekgz.DumpIndexer{B: seekgz.NewBuilder(zr)}
	inv, err := extract.InventoryFunc(plain, ix.Entry)
	out.uncompressed = plain.n
	var refused *extract.RefusedError
	switch {
	case err == nil:
	case src.err != nil:
		return out, src.err
	case errors.As(err, &refused):
		out.reason = refused.Error() // "refused statement at line N: ALTER SYSTEM"
		return out, nil
	case errors.Is(err, extract.ErrForbiddenMeta):
		out.reason = "forbidden meta-command at " + strings.TrimSuffix(err.Error(), ": "+extract.ErrForbiddenMeta.Error())
		return out, nil
	default:
		out.reason = gzipReason(err, obj.Offset())
		return out, nil
	}
	if !inv.TrailerSeen {
		out.reason = "no completion trailer"
		return out, nil
	}
	out.inv = inv
	out.index = ix.B.Index(out.etag, out.size, out.uncompressed)
	return out, nil
}

// gzipReason words a failure of the gzip stream or of the dump inside it.
func gzipReason(err error, offset int64) string {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Sprintf("truncated gzip at byte %d", offset)
	case errors.Is(err, gzip.ErrHeader):
		return fmt.Sprintf("garbage after the gzip stream at byte %d", offset)
	case errors.Is(err, gzip.ErrChecksum):
		return "gzip checksum mismatch"
	case errors.As(err, &corrupt):
		return fmt.Sprintf("corrupt gzip at byte %d", offset)
	}
	return "unreadable dump: " + err.Error()
}
