package snapshots

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/seekgz"
)

// Inspection is what reading one snapshot object to the end found.
type Inspection struct {
	Reason       string // empty when the dump is complete and clean
	ETag         string
	Size         int64
	Uncompressed int64
	// The dump's metadata and table inventory, for a clean dump.
	ServerVersion string
	DumpVersion   string
	Entries       int
	Tables        []Table
	Index         *seekgz.Index // the access index, built in the same pass
}

// Inspector reads snapshot object key to the end and classifies it
// (internal/verify.Inspect, which links the dump reader the portal does not).
// An error means the read could not run; a corrupt dump is a Reason.
type Inspector func(ctx context.Context, d Deps, key string) (Inspection, error)

// VerifyWith reads snapshot id with inspect (internal/verify.Snapshot streams
// it from S3 through gunzip and the dump reader) and records the outcome:
// verified with its table inventory and dump metadata, or corrupt with a
// reason a person can act on ("only 37 bytes", "truncated gzip at byte N",
// "no completion trailer", "forbidden meta-command at line 12: \!", "refused
// statement at line 123: ALTER SYSTEM" from the statement gate, extract.CheckEntry).
//
// An error means the check could not run (S3 or the database failed) and the
// snapshot stays pending; a corrupt snapshot is not an error.
func VerifyWith(ctx context.Context, d Deps, id int64, inspect Inspector) (Snapshot, error) {
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
		if out.Reason != "" {
			if err := snapshotSetCorrupt(ctx, tx, id, out.Reason); err != nil {
				return err
			}
		} else if err := snapshotSetVerified(ctx, tx, id, out); err != nil {
			return err
		}
		return SummaryRefresh(ctx, tx, []string{s.ProjectRef})
	})
	if err != nil {
		return s, fmt.Errorf("record verification of snapshot %d: %w", id, err)
	}
	if out.Reason != "" {
		d.log().Warn("snapshot corrupt", "snapshot_id", id, "key", s.Key, "reason", out.Reason)
	} else {
		// A missing index only costs later table restores a full read, which
		// they say; it does not make the snapshot less verified.
		n, err := storeIndex(ctx, d, id, s.Key, out.Index)
		if err != nil {
			d.log().Warn("snapshot verified; its access index could not be stored", "snapshot_id", id, "key", s.Key, "err", err)
		}
		d.log().Info("snapshot verified", "snapshot_id", id, "key", s.Key, "tables", len(out.Tables),
			"uncompressed_bytes", out.Uncompressed, "index_bytes", n, "checkpoints", len(out.Index.Checkpoints))
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
