package snapshots

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// DB is what the store needs: a pool, a connection or a transaction.
type DB = dbx.DBTX

const snapshotCols = `id, project_ref, key, size, etag, taken_at, last_modified, first_seen, kind, status, reason,
	verified_at, server_version, dump_version, entries, uncompressed_bytes, deleted_at, deleted_reason`

// timeOrder orders a project's snapshots newest first.
const timeOrder = `coalesce(taken_at, last_modified) DESC NULLS LAST, key DESC`

func scanSnapshot(row pgx.CollectableRow) (Snapshot, error) {
	var s Snapshot
	err := row.Scan(&s.ID, &s.ProjectRef, &s.Key, &s.Size, &s.ETag, &s.TakenAt, &s.LastModified, &s.FirstSeen,
		&s.Kind, &s.Status, &s.Reason, &s.VerifiedAt, &s.ServerVersion, &s.DumpVersion, &s.Entries,
		&s.UncompressedBytes, &s.DeletedAt, &s.DeletedReason)
	return s, err
}

func collectSnapshots(rows pgx.Rows, err error) ([]Snapshot, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanSnapshot)
}

func interpret(err error, what string) error {
	if err = dbx.InterpretError(err, ErrNotFound); errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return err
}

// SnapshotGet returns the snapshot with id, deleted or not.
func SnapshotGet(ctx context.Context, db DB, id int64) (Snapshot, error) {
	return snapshotGetBy(ctx, db, "id", id, fmt.Sprintf("snapshot %d", id))
}

// snapshotGetBy returns the one snapshot whose column (id or key, both
// unique) is v; what names it in the error.
func snapshotGetBy(ctx context.Context, db DB, column string, v any, what string) (Snapshot, error) {
	rows, err := db.Query(ctx, `SELECT `+snapshotCols+` FROM snapshots WHERE `+column+` = $1`, v)
	if err != nil {
		return Snapshot{}, err
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSnapshot)
	return s, interpret(err, what)
}

// Get is SnapshotGet, the name restore jobs and ticket pages call.
func Get(ctx context.Context, db DB, id int64) (Snapshot, error) { return SnapshotGet(ctx, db, id) }

// SnapshotGetByKey returns the catalog row of key.
func SnapshotGetByKey(ctx context.Context, db DB, key string) (Snapshot, error) {
	return snapshotGetBy(ctx, db, "key", key, "snapshot "+key)
}

// SnapshotListByProject returns ref's snapshots still in S3, newest first,
// at most limit (0: all).
func SnapshotListByProject(ctx context.Context, db DB, ref string, limit int) ([]Snapshot, error) {
	q := `SELECT ` + snapshotCols + ` FROM snapshots WHERE project_ref = $1 AND deleted_at IS NULL ORDER BY ` + timeOrder
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return collectSnapshots(db.Query(ctx, q, ref))
}

// SnapshotListPending returns up to limit pending snapshots first seen before
// olderThan, oldest first, for the sweep that re-enqueues lost verifications.
func SnapshotListPending(ctx context.Context, db DB, olderThan time.Time, limit int) ([]Snapshot, error) {
	return collectSnapshots(db.Query(ctx, `SELECT `+snapshotCols+` FROM snapshots
		WHERE status = 'pending' AND deleted_at IS NULL AND first_seen < $1 ORDER BY first_seen LIMIT $2`, olderThan, limit))
}

// SnapshotTables returns the inventory of snapshot id in dump order.
func SnapshotTables(ctx context.Context, db DB, id int64) ([]Table, error) {
	rows, err := db.Query(ctx, `SELECT schema_name, table_name, rows, bytes, has_data
		FROM snapshot_tables WHERE snapshot_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Table, error) {
		var t Table
		err := r.Scan(&t.Schema, &t.Name, &t.Rows, &t.Bytes, &t.HasData)
		return t, err
	})
}

// snapshotSetVerified stores a verified outcome and its inventory in one
// transaction.
// etag and size are those of the object version that was read: restores read
// exactly that version (OpenVerified).
func snapshotSetVerified(ctx context.Context, tx pgx.Tx, id int64, inv Inspection) error {
	if _, err := tx.Exec(ctx, `UPDATE snapshots SET status = 'verified', reason = '', verified_at = now(),
		server_version = $2, dump_version = $3, entries = $4, uncompressed_bytes = $5, etag = coalesce(nullif($6, ''), etag),
		size = CASE WHEN $6 <> '' THEN $7 ELSE size END
		WHERE id = $1`, id, inv.ServerVersion, inv.DumpVersion, inv.Entries, inv.Uncompressed, inv.ETag, inv.Size); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM snapshot_tables WHERE snapshot_id = $1`, id); err != nil {
		return err
	}
	rows := make([][]any, 0, len(inv.Tables))
	for i, t := range inv.Tables {
		rows = append(rows, []any{id, i, t.Schema, t.Name, t.Rows, t.Bytes, t.HasData})
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"snapshot_tables"},
		[]string{"snapshot_id", "position", "schema_name", "table_name", "rows", "bytes", "has_data"}, pgx.CopyFromRows(rows))
	return err
}

// SnapshotMarkChanged puts snapshot id back to pending with ReasonChanged, so that no
// restore can choose it until it is verified again, and drops its inventory. etag,
// when known, is the object's current ETag and becomes the catalog's, so that the
// verification job of the returned ToVerify is a new one (jobs are unique by id and
// ETag) and the sync's sweep of pending snapshots enqueues it too.
func SnapshotMarkChanged(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, id int64, etag string) (ToVerify, error) {
	var v ToVerify
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var ref string
		err := tx.QueryRow(ctx, `UPDATE snapshots SET status = 'pending', reason = $2, verified_at = NULL,
			etag = coalesce(nullif($3, ''), etag) WHERE id = $1 RETURNING id, etag, project_ref`, id, ReasonChanged, etag).
			Scan(&v.ID, &v.ETag, &ref)
		if err != nil {
			return interpret(err, fmt.Sprintf("snapshot %d", id))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM snapshot_tables WHERE snapshot_id = $1`, id); err != nil {
			return err
		}
		return SummaryRefresh(ctx, tx, []string{ref})
	})
	return v, err
}

// snapshotSetCorrupt stores a corrupt outcome with its reason.
func snapshotSetCorrupt(ctx context.Context, db DB, id int64, reason string) error {
	_, err := db.Exec(ctx, `UPDATE snapshots SET status = 'corrupt', reason = $2, verified_at = now() WHERE id = $1`, id, reason)
	if err == nil {
		_, err = db.Exec(ctx, `DELETE FROM snapshot_tables WHERE snapshot_id = $1`, id)
	}
	return err
}

// snapshotMarkDeleted flags ids as gone from S3, except rows first seen after
// notBefore (inserted by a capture while a listing ran).
func snapshotMarkDeleted(ctx context.Context, db DB, ids []int64, notBefore time.Time, reason string) ([]string, error) {
	rows, err := db.Query(ctx, `UPDATE snapshots SET deleted_at = now(), deleted_reason = $3
		WHERE id = ANY($1) AND deleted_at IS NULL AND first_seen < $2 RETURNING project_ref`, ids, notBefore, reason)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// listed is one object of a listing.
type listed struct {
	ref          string
	key          string
	size         int64
	etag         string
	takenAt      *time.Time
	lastModified *time.Time
}

// upserted is a snapshot row a sync added or whose object changed.
type upserted struct {
	ID      int64
	Ref     string
	ETag    string
	Created bool
}

// snapshotUpsert writes listed objects that are new or changed (size or
// etag differ, or the row was marked deleted), resetting changed ones to
// pending. Unchanged objects are not written.
func snapshotUpsert(ctx context.Context, tx pgx.Tx, objs []listed, kind Kind) ([]upserted, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	refs := map[string]bool{}
	var refList []string
	for _, o := range objs {
		if !refs[o.ref] {
			refs[o.ref] = true
			refList = append(refList, o.ref)
		}
	}
	if err := ProjectEnsure(ctx, tx, refList); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE sync_objects (project_ref text, key text, size bigint, etag text,
		taken_at timestamptz, last_modified timestamptz) ON COMMIT DROP`); err != nil {
		return nil, err
	}
	rows := make([][]any, len(objs))
	for i, o := range objs {
		rows[i] = []any{o.ref, o.key, o.size, o.etag, o.takenAt, o.lastModified}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"sync_objects"},
		[]string{"project_ref", "key", "size", "etag", "taken_at", "last_modified"}, pgx.CopyFromRows(rows)); err != nil {
		return nil, err
	}
	res, err := tx.Query(ctx, `INSERT INTO snapshots AS s (project_ref, key, size, etag, taken_at, last_modified, kind)
		SELECT project_ref, key, size, etag, taken_at, last_modified, $1 FROM sync_objects
		ON CONFLICT (key) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
			last_seen = now(), deleted_at = NULL, deleted_reason = '',
			status = CASE WHEN s.etag = EXCLUDED.etag AND s.size = EXCLUDED.size THEN s.status ELSE 'pending' END,
			reason = CASE WHEN s.etag = EXCLUDED.etag AND s.size = EXCLUDED.size THEN s.reason ELSE '' END
		WHERE s.etag IS DISTINCT FROM EXCLUDED.etag OR s.size <> EXCLUDED.size OR s.deleted_at IS NOT NULL
		RETURNING id, project_ref, etag, (xmax = 0)`, kind)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(res, func(r pgx.CollectableRow) (upserted, error) {
		var u upserted
		err := r.Scan(&u.ID, &u.Ref, &u.ETag, &u.Created)
		return u, err
	})
}

// catalogEntry is what a full sync compares a listing against.
type catalogEntry struct {
	id   int64
	size int64
	etag string
}

// snapshotCatalog loads the live rows under refs (all projects when refs is nil).
func snapshotCatalog(ctx context.Context, db DB, refs []string) (map[string]catalogEntry, error) {
	q := `SELECT key, id, size, etag FROM snapshots WHERE deleted_at IS NULL`
	args := []any{}
	if refs != nil {
		q += ` AND project_ref = ANY($1)`
		args = append(args, refs)
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return dbx.CollectMap(rows, func(r pgx.CollectableRow) (k string, e catalogEntry, err error) {
		err = r.Scan(&k, &e.id, &e.size, &e.etag)
		return k, e, err
	})
}

// ProjectEnsure inserts refs not yet known as discovered projects.
func ProjectEnsure(ctx context.Context, db DB, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	_, err := db.Exec(ctx, `INSERT INTO projects (ref, source) SELECT unnest($1::text[]), 'discovered'
		ON CONFLICT (ref) DO NOTHING`, refs)
	return err
}

// ProjectGet returns one project.
func ProjectGet(ctx context.Context, db DB, ref string) (Project, error) {
	var p Project
	err := db.QueryRow(ctx, `SELECT ref, source, coalesce(database_name, ''), coalesce(restored_from, ''), cluster, coalesce(owner_role, '')
		FROM projects WHERE ref = $1`, ref).Scan(&p.Ref, &p.Source, &p.DatabaseName, &p.RestoredFrom, &p.Cluster, &p.OwnerRole)
	return p, interpret(err, "project "+ref)
}

// ProjectRefsRegistered lists projects with a database the portal can capture.
func ProjectRefsRegistered(ctx context.Context, db DB) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT ref FROM projects WHERE source IN ('registered', 'restored')
		AND database_name IS NOT NULL ORDER BY ref`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// projectNewestKeys maps every known project to its highest live key ("" when
// it has none): where an incremental listing starts after.
func projectNewestKeys(ctx context.Context, db DB) (map[string]string, error) {
	rows, err := db.Query(ctx, `SELECT p.ref, coalesce(s.newest_key, '') FROM projects p
		LEFT JOIN project_snapshot_summaries s ON s.project_ref = p.ref`)
	if err != nil {
		return nil, err
	}
	return dbx.CollectMap(rows, func(r pgx.CollectableRow) (ref, key string, err error) {
		err = r.Scan(&ref, &key)
		return ref, key, err
	})
}

// SummaryRefresh recomputes the per-project summary rows of refs.
//
// Two transactions refreshing the same project (two verify jobs of one
// project finishing together) would each count the other's snapshot as it
// was before, and the last to commit would leave a stale summary. So the
// refresh first takes a per-project transaction lock, in ref order: the
// second waits for the first to commit, and its count, a new statement,
// sees the first's change. Called outside a transaction the lock is
// released at once and only orders the statements.
func SummaryRefresh(ctx context.Context, db DB, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	if _, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('snapshot_summary:' || ref))
		FROM (SELECT DISTINCT unnest($1::text[]) AS ref ORDER BY 1) r`, refs); err != nil {
		return fmt.Errorf("lock project summaries: %w", err)
	}
	_, err := db.Exec(ctx, `INSERT INTO project_snapshot_summaries AS p (project_ref, snapshot_count, verified_count,
			corrupt_count, pending_count, total_bytes, newest_id, newest_at, newest_status, newest_key, updated_at)
		SELECT r.ref, count(s.id),
			count(s.id) FILTER (WHERE s.status = 'verified'),
			count(s.id) FILTER (WHERE s.status = 'corrupt'),
			count(s.id) FILTER (WHERE s.status = 'pending'),
			coalesce(sum(s.size), 0),
			(array_agg(s.id ORDER BY coalesce(s.taken_at, s.last_modified) DESC NULLS LAST, s.key DESC) FILTER (WHERE s.id IS NOT NULL))[1],
			max(coalesce(s.taken_at, s.last_modified)),
			(array_agg(s.status ORDER BY coalesce(s.taken_at, s.last_modified) DESC NULLS LAST, s.key DESC) FILTER (WHERE s.id IS NOT NULL))[1],
			max(s.key) FILTER (WHERE s.taken_at IS NOT NULL), now()
		FROM (SELECT DISTINCT unnest($1::text[]) AS ref) r
		JOIN projects pr ON pr.ref = r.ref
		LEFT JOIN snapshots s ON s.project_ref = r.ref AND s.deleted_at IS NULL
		GROUP BY r.ref
		ON CONFLICT (project_ref) DO UPDATE SET snapshot_count = EXCLUDED.snapshot_count,
			verified_count = EXCLUDED.verified_count, corrupt_count = EXCLUDED.corrupt_count,
			pending_count = EXCLUDED.pending_count, total_bytes = EXCLUDED.total_bytes,
			newest_id = EXCLUDED.newest_id, newest_at = EXCLUDED.newest_at, newest_status = EXCLUDED.newest_status,
			newest_key = EXCLUDED.newest_key, updated_at = EXCLUDED.updated_at`, refs)
	return err
}

// ProjectListParams selects a page of the projects list.
type ProjectListParams struct {
	Search string // substring of the ref, case-insensitive
	Limit  int    // default 50
	Offset int
	Now    time.Time // for warnings; zero means time.Now
}

// ProjectList returns a page of projects with their summaries, by ref, and
// how many projects match.
func ProjectList(ctx context.Context, db DB, p ProjectListParams) ([]ProjectSummary, int, error) {
	if p.Limit <= 0 {
		p.Limit = 50
	}
	if p.Now.IsZero() {
		p.Now = time.Now()
	}
	pattern := "%" + escapeLike(p.Search) + "%"
	var total int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM projects WHERE ref LIKE lower($1)`, pattern).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.Query(ctx, `SELECT p.ref, p.source, coalesce(p.database_name, ''),
			coalesce(s.snapshot_count, 0), coalesce(s.verified_count, 0), coalesce(s.corrupt_count, 0),
			coalesce(s.pending_count, 0), coalesce(s.total_bytes, 0), s.newest_id, s.newest_at, coalesce(s.newest_status, '')
		FROM projects p LEFT JOIN project_snapshot_summaries s ON s.project_ref = p.ref
		WHERE p.ref LIKE lower($1) ORDER BY p.ref LIMIT $2 OFFSET $3`, pattern, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProjectSummary, error) {
		var s ProjectSummary
		err := r.Scan(&s.Ref, &s.Source, &s.DatabaseName, &s.SnapshotCount, &s.VerifiedCount, &s.CorruptCount,
			&s.PendingCount, &s.TotalBytes, &s.NewestID, &s.NewestAt, &s.NewestStatus)
		s.computeWarnings(p.Now)
		return s, err
	})
	return out, total, err
}

// ProjectSummaryGet returns the summary line of one project.
func ProjectSummaryGet(ctx context.Context, db DB, ref string, now time.Time) (ProjectSummary, error) {
	var s ProjectSummary
	err := db.QueryRow(ctx, `SELECT p.ref, p.source, coalesce(p.database_name, ''),
			coalesce(s.snapshot_count, 0), coalesce(s.verified_count, 0), coalesce(s.corrupt_count, 0),
			coalesce(s.pending_count, 0), coalesce(s.total_bytes, 0), s.newest_id, s.newest_at, coalesce(s.newest_status, '')
		FROM projects p LEFT JOIN project_snapshot_summaries s ON s.project_ref = p.ref WHERE p.ref = $1`, ref).Scan(
		&s.Ref, &s.Source, &s.DatabaseName, &s.SnapshotCount, &s.VerifiedCount, &s.CorruptCount,
		&s.PendingCount, &s.TotalBytes, &s.NewestID, &s.NewestAt, &s.NewestStatus)
	if err != nil {
		return s, interpret(err, "project "+ref)
	}
	s.computeWarnings(now)
	return s, nil
}

func escapeLike(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '_' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// SyncRun is one row of the sync log.
type SyncRun struct {
	ID         int64      `json:"id"`
	ProjectRef *string    `json:"project_ref"`
	Full       bool       `json:"full"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Listed     int        `json:"listed"`
	Added      int        `json:"added"`
	Changed    int        `json:"changed"`
	Deleted    int        `json:"deleted"`
	Error      string     `json:"error,omitempty"`
}

func syncStart(ctx context.Context, db DB, ref string, full bool) (int64, time.Time, error) {
	var id int64
	var at time.Time
	err := db.QueryRow(ctx, `INSERT INTO snapshot_syncs (project_ref, full_scan) VALUES (nullif($1, ''), $2)
		RETURNING id, started_at`, ref, full).Scan(&id, &at)
	return id, at, err
}

func syncFinish(ctx context.Context, db DB, id int64, r SyncResult, runErr error) error {
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	_, err := db.Exec(ctx, `UPDATE snapshot_syncs SET finished_at = now(), listed = $2, added = $3, changed = $4,
		deleted = $5, error = $6 WHERE id = $1`, id, r.Listed, r.Added, r.Changed, r.Deleted, msg)
	return err
}

// SyncLastFull is when the last successful full sync of every project
// started (zero when there was none).
func SyncLastFull(ctx context.Context, db DB) (time.Time, error) {
	var t *time.Time
	err := db.QueryRow(ctx, `SELECT max(started_at) FROM snapshot_syncs
		WHERE project_ref IS NULL AND full_scan AND finished_at IS NOT NULL AND error = ''`).Scan(&t)
	if err != nil || t == nil {
		return time.Time{}, err
	}
	return *t, nil
}

// SyncLatest returns the newest finished sync that covered ref (a project
// sync or a sync of every project), or ErrNotFound.
func SyncLatest(ctx context.Context, db DB, ref string) (*SyncRun, error) {
	var r SyncRun
	err := db.QueryRow(ctx, `SELECT id, project_ref, full_scan, started_at, finished_at, listed, added, changed, deleted, error
		FROM snapshot_syncs WHERE (project_ref = $1 OR project_ref IS NULL) AND finished_at IS NOT NULL
		ORDER BY started_at DESC LIMIT 1`, ref).Scan(&r.ID, &r.ProjectRef, &r.Full, &r.StartedAt, &r.FinishedAt,
		&r.Listed, &r.Added, &r.Changed, &r.Deleted, &r.Error)
	if err != nil {
		return nil, interpret(err, "sync of "+ref)
	}
	return &r, nil
}

// GetUsable returns snapshot id when a restore may use it (verified, still
// in S3), else an error wrapping ErrNotUsable or ErrNotFound. Restore jobs
// call it before streaming a snapshot.
func GetUsable(ctx context.Context, db DB, id int64) (Snapshot, error) {
	s, err := SnapshotGet(ctx, db, id)
	if err != nil {
		return s, err
	}
	return s, s.Usable()
}
