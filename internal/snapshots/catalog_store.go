package snapshots

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// SQL of Resolve, retention and capture: the catalog queries those steps
// run, kept here so that no SQL string lives outside a store file.

// snapshotVerifiedFirst returns ref's first live, timed snapshot matching
// where (a fixed condition of this file, with args from $2 on) in order, or
// nil when there is none.
func snapshotVerifiedFirst(ctx context.Context, db DB, ref, where, order string, args ...any) (*Snapshot, error) {
	rows, err := db.Query(ctx, `SELECT `+snapshotCols+` FROM snapshots
			WHERE project_ref = $1 AND deleted_at IS NULL AND taken_at IS NOT NULL AND `+where+
		` ORDER BY `+order+` LIMIT 1`, append([]any{ref}, args...)...)
	if err != nil {
		return nil, err
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSnapshot)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return &s, err
}

// snapshotVerifiedLatest is ref's newest verified timed snapshot (nil: none).
func snapshotVerifiedLatest(ctx context.Context, db DB, ref string) (*Snapshot, error) {
	return snapshotVerifiedFirst(ctx, db, ref, `status = 'verified'`, `taken_at DESC, key DESC`)
}

// snapshotVerifiedAtOrBefore is ref's newest verified snapshot taken at or
// before at (nil: none).
func snapshotVerifiedAtOrBefore(ctx context.Context, db DB, ref string, at time.Time) (*Snapshot, error) {
	return snapshotVerifiedFirst(ctx, db, ref, `status = 'verified' AND taken_at <= $2`, `taken_at DESC, key DESC`, at)
}

// snapshotVerifiedAfter is ref's oldest verified snapshot taken after at
// (nil: none).
func snapshotVerifiedAfter(ctx context.Context, db DB, ref string, at time.Time) (*Snapshot, error) {
	return snapshotVerifiedFirst(ctx, db, ref, `status = 'verified' AND taken_at > $2`, `taken_at, key`, at)
}

// snapshotVerifiedBefore is the verified snapshot of ref just before the one
// taken at takenAt with key (nil: none).
func snapshotVerifiedBefore(ctx context.Context, db DB, ref string, takenAt time.Time, key string) (*Snapshot, error) {
	return snapshotVerifiedFirst(ctx, db, ref, `status = 'verified' AND (taken_at, key) < ($2, $3)`, `taken_at DESC, key DESC`,
		takenAt, key)
}

// snapshotListUnverifiedBetween lists ref's live snapshots not verified,
// taken after after and at or before at, newest first.
func snapshotListUnverifiedBetween(ctx context.Context, db DB, ref string, at, after time.Time) ([]Snapshot, error) {
	return collectSnapshots(db.Query(ctx, `SELECT `+snapshotCols+` FROM snapshots
		WHERE project_ref = $1 AND deleted_at IS NULL AND status <> 'verified' AND taken_at <= $2 AND taken_at > $3
		ORDER BY taken_at DESC, key DESC`, ref, at, after))
}

// retentionCandidates are automatic snapshots beyond the newest keep of their
// project, except each project's newest verified snapshot (so a run of
// corrupt dumps never leaves a project with nothing to restore) and
// snapshots an open ticket references (the view snapshot_references, which
// the tickets migration defines).
const retentionCandidates = `WITH ranked AS (
		SELECT id, row_number() OVER (PARTITION BY project_ref
			ORDER BY coalesce(taken_at, last_modified) DESC NULLS LAST, key DESC) AS n
		FROM snapshots WHERE deleted_at IS NULL AND kind = 'automatic' AND ($2 = '' OR project_ref = $2)
	), newest_verified AS (
		SELECT DISTINCT ON (project_ref) id FROM snapshots
		WHERE deleted_at IS NULL AND status = 'verified' AND ($2 = '' OR project_ref = $2)
		ORDER BY project_ref, coalesce(taken_at, last_modified) DESC NULLS LAST, key DESC
	)
	SELECT id FROM ranked WHERE n > $1
		AND id NOT IN (SELECT id FROM newest_verified)
		AND id NOT IN (SELECT snapshot_id FROM snapshot_references WHERE snapshot_id IS NOT NULL)
	ORDER BY id`

// snapshotListRetentionCandidates returns the ids retentionCandidates selects.
func snapshotListRetentionCandidates(ctx context.Context, db DB, keep int, ref string) ([]int64, error) {
	rows, err := db.Query(ctx, retentionCandidates, keep, ref)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// snapshotLockPrunable is the query pruneOne gives pruneLocked: snapshot $1
// while it is still an unreferenced automatic one, locked.
const snapshotLockPrunable = `SELECT ` + snapshotCols + ` FROM snapshots WHERE id = $1 AND deleted_at IS NULL
			AND kind = 'automatic' AND id NOT IN (SELECT snapshot_id FROM snapshot_references WHERE snapshot_id IS NOT NULL)
			FOR UPDATE`

// snapshotLockedOne runs query (one that locks the row it selects) and
// returns its one snapshot; ok is false when it selects none.
func snapshotLockedOne(ctx context.Context, tx pgx.Tx, query string, args ...any) (s Snapshot, ok bool, err error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return s, false, err
	}
	s, err = pgx.CollectExactlyOneRow(rows, scanSnapshot)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	return s, err == nil, err
}

// snapshotSetDeleted marks snapshot id deleted now, for reason.
func snapshotSetDeleted(ctx context.Context, tx pgx.Tx, id int64, reason string) error {
	_, err := tx.Exec(ctx, `UPDATE snapshots SET deleted_at = now(), deleted_reason = $2 WHERE id = $1`, id, reason)
	return err
}

// snapshotSetKind sets the kind of the snapshot with key and returns its id.
func snapshotSetKind(ctx context.Context, tx pgx.Tx, key string, kind Kind) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `UPDATE snapshots SET kind = $2 WHERE key = $1 RETURNING id`, key, kind).Scan(&id)
	return id, err
}

// snapshotIndex is a snapshot's row of snapshot_indexes: where its access
// index is and the index object's digest.
type snapshotIndex struct {
	snapshotID         int64
	etag, bucket, key  string
	sha256             string
	bytes, checkpoints int
}

// snapshotIndexPut records (or replaces) a snapshot's access index.
func snapshotIndexPut(ctx context.Context, db DB, x snapshotIndex) error {
	_, err := db.Exec(ctx, `INSERT INTO snapshot_indexes (snapshot_id, etag, bucket, key, sha256, bytes, checkpoints)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (snapshot_id) DO UPDATE SET etag = excluded.etag, bucket = excluded.bucket, key = excluded.key,
			sha256 = excluded.sha256, bytes = excluded.bytes, checkpoints = excluded.checkpoints, built_at = now()`,
		x.snapshotID, x.etag, x.bucket, x.key, x.sha256, x.bytes, x.checkpoints)
	return err
}

// snapshotIndexGet returns where snapshot id's access index is; pgx.ErrNoRows
// when it has none.
func snapshotIndexGet(ctx context.Context, db DB, id int64) (snapshotIndex, error) {
	x := snapshotIndex{snapshotID: id}
	err := db.QueryRow(ctx, `SELECT etag, bucket, key, sha256 FROM snapshot_indexes WHERE snapshot_id = $1`, id).
		Scan(&x.etag, &x.bucket, &x.key, &x.sha256)
	return x, err
}

// snapshotListSafetyLapsed lists the safety snapshots recorded before before
// (ref empty: of every project) that retention may delete: their ticket's
// restore is not queued or running and no open ticket references them.
func snapshotListSafetyLapsed(ctx context.Context, db DB, before time.Time, ref string) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT s.id FROM ticket_safety_snapshots ss
		JOIN snapshots s ON s.id = ss.snapshot_id
		JOIN tickets t ON t.id = ss.ticket_id
	WHERE s.deleted_at IS NULL AND ss.created_at < $1 AND ($2 = '' OR s.project_ref = $2)
		AND t.state NOT IN ('queued', 'running')
		AND s.id NOT IN (SELECT snapshot_id FROM snapshot_references WHERE snapshot_id IS NOT NULL)
	ORDER BY s.id`, before, ref)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// snapshotLockSafetyLapsed is the query pruneSafetyOne gives pruneLocked:
// snapshot $1, locked, if it is still a safety snapshot recorded before $2
// that snapshotListSafetyLapsed would list.
const snapshotLockSafetyLapsed = `SELECT ` + snapshotCols + ` FROM snapshots WHERE id = $1 AND deleted_at IS NULL
			AND id IN (SELECT s.id FROM ticket_safety_snapshots ss JOIN snapshots s ON s.id = ss.snapshot_id JOIN tickets t ON t.id = ss.ticket_id
				WHERE ss.created_at < $2 AND t.state NOT IN ('queued', 'running'))
			AND id NOT IN (SELECT snapshot_id FROM snapshot_references WHERE snapshot_id IS NOT NULL)
			FOR UPDATE`
