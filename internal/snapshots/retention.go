package snapshots

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
)

// Prune deletes automatic snapshots beyond the newest keep per project (ref
// empty: every project), from S3 and then from the catalog (the row stays,
// marked deleted by "retention"). It never prunes a manual snapshot, a
// snapshot an open ticket references, or a project's newest verified one.
func Prune(ctx context.Context, d Deps, keep int, ref string) ([]Snapshot, error) {
	if keep < 1 {
		return nil, fmt.Errorf("retention: keep must be at least 1, not %d", keep)
	}
	ids, err := snapshotListRetentionCandidates(ctx, d.Pool, keep, ref)
	if err != nil {
		return nil, fmt.Errorf("retention candidates: %w", err)
	}
	pruned, err := pruneEach(ctx, d, ids, func(id int64) (Snapshot, bool, error) { return pruneOne(ctx, d, id) })
	if len(pruned) > 0 {
		d.log().Info("retention pruned snapshots", "project_ref", ref, "keep", keep, "pruned", len(pruned))
	}
	return pruned, err
}

// pruneEach prunes each of ids with one, going on past failures, and
// refreshes the summaries of the projects it pruned; the error joins the
// failures.
func pruneEach(ctx context.Context, d Deps, ids []int64, one func(id int64) (Snapshot, bool, error)) ([]Snapshot, error) {
	var pruned []Snapshot
	refs := map[string]bool{}
	var errs []error
	for _, id := range ids {
		s, ok, err := one(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			pruned = append(pruned, s)
			refs[s.ProjectRef] = true
		}
	}
	var list []string
	for r := range refs {
		list = append(list, r)
	}
	if err := SummaryRefresh(ctx, d.Pool, list); err != nil {
		errs = append(errs, err)
	}
	return pruned, errors.Join(errs...)
}

// pruneOne deletes one snapshot while holding its row lock, after checking
// again that no ticket took a reference meanwhile. A ticket that references a
// snapshot should take FOR SHARE on its row and check deleted_at in the same
// transaction.
func pruneOne(ctx context.Context, d Deps, id int64) (Snapshot, bool, error) {
	s, ok, err := pruneLocked(ctx, d, "retention", snapshotLockPrunable, id)
	if err != nil {
		return s, false, fmt.Errorf("prune snapshot %d: %w", id, err)
	}
	return s, ok, nil
}

// pruneLocked deletes the snapshot that query (which must lock its row FOR
// UPDATE) still selects, from S3 and then the catalog with reason, in one
// transaction; a snapshot the query no longer selects (taken, changed or gone
// meanwhile) is left alone and ok is false.
func pruneLocked(ctx context.Context, d Deps, reason, query string, args ...any) (s Snapshot, ok bool, err error) {
	err = pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		var found bool
		if s, found, err = snapshotLockedOne(ctx, tx, query, args...); err != nil || !found {
			return err
		}
		if _, err := d.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.Bucket, Key: &s.Key}); err != nil {
			return fmt.Errorf("delete s3://%s/%s: %w", d.Bucket, s.Key, err)
		}
		if err := snapshotSetDeleted(ctx, tx, s.ID, reason); err != nil {
			return err
		}
		ok = true
		return nil
	})
	return s, ok, err
}
