// Package snapshots is the catalog of every project's dumps in S3.
//
// It discovers project prefixes and snapshot objects (Sync), parses snapshot
// times from keys (ParseKeyTime), records each snapshot's verification and its
// table inventory (VerifyWith: internal/verify streams the dump through the dump
// reader, which this package does not link, so the portal does not either),
// answers "which snapshot for this time" (Resolve), captures new snapshots with
// pg_dump (CaptureWith) and prunes old automatic ones (Prune). All SQL is in
// the store files (store.go, *_store.go, placement.go). Pages read the
// catalog, never S3.
//
// Job args for the River workers in internal/jobs live here too (jobargs.go);
// this package imports neither River's client nor echo.
package snapshots

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/objstore"
)

// Deps is what the catalog's operations need.
type Deps struct {
	Pool   *pgxpool.Pool // the portal's database
	S3     *s3.Client
	Bucket string // PORTAL_S3_BUCKET
	Prefix string // PORTAL_S3_PREFIX, without a trailing slash
	// PGDump is the pg_dump binary of captures (PORTAL_PG_DUMP).
	PGDump string
	// ProjectsAdminURL reaches the project cluster (PORTAL_PROJECTS_ADMIN_URL);
	// captures dump ref's database_name on it.
	ProjectsAdminURL string
	// ClusterURLs maps project cluster names to superuser URLs
	// (config.Clusters); a project on a cluster other than "default" is
	// captured there. Nil: every project is on ProjectsAdminURL's cluster.
	ClusterURLs map[string]string
	Log         *slog.Logger
	// S3Read sets the retry window and idle timeout of S3 reads
	// (PORTAL_S3_RETRY_FOR, PORTAL_S3_IDLE_TIMEOUT); zero values mean defaults.
	S3Read objstore.ReaderOptions
	// Recorded, when set, runs in the transaction that records a captured
	// snapshot in the catalog: a restore records its safety snapshot on its
	// ticket there, so a worker killed after the capture cannot leave a
	// snapshot its ticket does not know (and take another on the retry).
	Recorded func(ctx context.Context, tx pgx.Tx, snapshotID int64) error
	// IndexBucket and IndexPrefix locate the access indexes verification writes
	// (PORTAL_S3_INDEX_BUCKET, PORTAL_S3_INDEX_PREFIX); empty: Bucket and
	// DefaultIndexPrefix.
	IndexBucket, IndexPrefix string
	// CaptureMemory bounds one capture's buffers in bytes
	// (PORTAL_CAPTURE_MEMORY_MIB); 0: DefaultCaptureMemory.
	CaptureMemory int64
	// SplitTables is the least table data, in bytes, a full restore through the
	// access index reads in pieces (PORTAL_SPLIT_TABLES_MIB); 0: never.
	SplitTables int64
}

// NewDeps builds Deps from the configuration.
func NewDeps(cfg config.Config, pool *pgxpool.Pool, client *s3.Client, log *slog.Logger) Deps {
	return Deps{
		Pool: pool, S3: client, Bucket: cfg.S3.Bucket, Prefix: cfg.S3.Prefix,
		PGDump: cfg.PGDump, ProjectsAdminURL: cfg.ProjectsAdminURL, ClusterURLs: cfg.Clusters, Log: log,
		S3Read:      objstore.ReaderOptionsFrom(cfg.S3),
		IndexBucket: cfg.S3.IndexBucket, IndexPrefix: cfg.S3.IndexPrefix,
		CaptureMemory: int64(cfg.Worker.CaptureMemoryMiB) << 20,
		SplitTables:   int64(cfg.Worker.SplitTablesMiB) << 20,
	}
}

func (d Deps) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}
