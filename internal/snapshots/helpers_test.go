package snapshots

import (
	"context"
	"testing"

	"github.com/restoreportal/portal/internal/snapshots/snapshottest"
	"github.com/restoreportal/portal/internal/testenv"
)

// newDeps gives a test a fresh portal database and a fresh bucket.
func newDeps(t *testing.T) Deps {
	t.Helper()
	pool := testenv.PortalPool(t)
	client, bucket := testenv.S3(t)
	cfg := testenv.Config(t)
	return Deps{Pool: pool, S3: client, Bucket: bucket, Prefix: "daily",
		PGDump: cfg.PGDump, ProjectsAdminURL: cfg.ProjectsAdminURL, Log: testenv.Logger(t)}
}

func putObject(t *testing.T, d Deps, key string, body []byte) {
	t.Helper()
	snapshottest.PutObject(t, d.S3, d.Bucket, key, body)
}

func deleteObject(t *testing.T, d Deps, key string) {
	t.Helper()
	snapshottest.DeleteObject(t, d.S3, d.Bucket, key)
}

func gz(s string) []byte { return snapshottest.Gzip(s) }

// dumpSQL is a small complete plain-format dump.
const dumpSQL = snapshottest.DumpSQL

// registeredProject makes a project database with data and registers it.
func registeredProject(t *testing.T, d Deps, ref string) string {
	t.Helper()
	return snapshottest.RegisteredProject(t, d.Pool, ref)
}

func mustSync(t *testing.T, d Deps, opts SyncOptions) SyncResult {
	t.Helper()
	res, err := Sync(context.Background(), d, opts)
	if err != nil {
		t.Fatalf("sync %+v: %v", opts, err)
	}
	return res
}
