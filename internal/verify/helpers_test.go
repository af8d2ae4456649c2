package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/snapshots/snapshottest"
	"github.com/restoreportal/portal/internal/testenv"
)

// newDeps gives a test a fresh portal database and a fresh bucket.
func newDeps(t *testing.T) snapshots.Deps {
	t.Helper()
	pool := testenv.PortalPool(t)
	client, bucket := testenv.S3(t)
	cfg := testenv.Config(t)
	return snapshots.Deps{Pool: pool, S3: client, Bucket: bucket, Prefix: "daily",
		PGDump: cfg.PGDump, ProjectsAdminURL: cfg.ProjectsAdminURL, Log: testenv.Logger(t)}
}

// faultyDeps is d reading S3 through a fault proxy (returned, to cut S3
// with), its reads retrying for a minute.
func faultyDeps(t *testing.T, d snapshots.Deps) (snapshots.Deps, *testenv.FaultProxy) {
	t.Helper()
	cfg := testenv.Config(t).S3
	p := testenv.NewFaultProxy(t, strings.TrimPrefix(cfg.Endpoint, "http://"), testenv.FaultOptions{})
	cfg.Endpoint = "http://" + p.Addr
	faulty, err := objstore.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.S3 = faulty
	d.S3Read.RetryFor = time.Minute
	return d, p
}

// verifyEach puts each case's object (name and body) as
// daily/REF/NAME.sql.gz, syncs ref, verifies each snapshot and hands check the
// case and what verification made of it; a verification that fails is
// reported and its case not checked.
func verifyEach[C any](t *testing.T, d snapshots.Deps, ref string, cases []C, object func(C) (string, []byte), check func(C, snapshots.Snapshot)) {
	t.Helper()
	ctx := context.Background()
	key := func(c C) string {
		name, _ := object(c)
		return "daily/" + ref + "/" + name + ".sql.gz"
	}
	for _, c := range cases {
		_, body := object(c)
		putObject(t, d, key(c), body)
	}
	mustSync(t, d, snapshots.SyncOptions{Ref: ref, Full: true})
	for _, c := range cases {
		s, err := snapshots.SnapshotGetByKey(ctx, d.Pool, key(c))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Snapshot(ctx, d, s.ID)
		if err != nil {
			name, _ := object(c)
			t.Errorf("%s: Verify: %v", name, err)
			continue
		}
		check(c, got)
	}
}

func putObject(t *testing.T, d snapshots.Deps, key string, body []byte) {
	t.Helper()
	snapshottest.PutObject(t, d.S3, d.Bucket, key, body)
}

func deleteObject(t *testing.T, d snapshots.Deps, key string) {
	t.Helper()
	snapshottest.DeleteObject(t, d.S3, d.Bucket, key)
}

func gz(s string) []byte { return snapshottest.Gzip(s) }

// dumpSQL is a small complete plain-format dump.
const dumpSQL = snapshottest.DumpSQL

// projectDeps is newDeps with ref registered (registeredProject); it
// returns the project database's URL too.
func projectDeps(t *testing.T, ref string) (snapshots.Deps, string) {
	t.Helper()
	d := newDeps(t)
	return d, registeredProject(t, d, ref)
}

// fakePGDump writes a shell script named name that stands in for pg_dump
// and returns its path.
func fakePGDump(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// tableRows is the row count of each table of snapshot id's inventory, by
// schema.name.
func tableRows(t *testing.T, d snapshots.Deps, id int64) map[string]int64 {
	t.Helper()
	tables, err := snapshots.SnapshotTables(context.Background(), d.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, tb := range tables {
		rows[tb.Schema+"."+tb.Name] = tb.Rows
	}
	return rows
}

// registeredProject makes a project database with data and registers it.
func registeredProject(t *testing.T, d snapshots.Deps, ref string) string {
	t.Helper()
	return snapshottest.RegisteredProject(t, d.Pool, ref)
}

func mustSync(t *testing.T, d snapshots.Deps, opts snapshots.SyncOptions) snapshots.SyncResult {
	t.Helper()
	res, err := snapshots.Sync(context.Background(), d, opts)
	if err != nil {
		t.Fatalf("sync %+v: %v", opts, err)
	}
	return res
}

// insertSnapshot records a catalog row for key as sync would, without an object.
func insertSnapshot(t *testing.T, db snapshots.DB, ref, key string, taken *time.Time, status snapshots.Status, kind snapshots.Kind) int64 {
	t.Helper()
	ctx := context.Background()
	if err := snapshots.ProjectEnsure(ctx, db, []string{ref}); err != nil {
		t.Fatal(err)
	}
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO snapshots (project_ref, key, size, etag, taken_at, last_modified, status, kind)
		VALUES ($1, $2, 1000, 'e', $3, coalesce($3, now()), $4, $5) RETURNING id`, ref, key, taken, status, kind).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshots.SummaryRefresh(ctx, db, []string{ref}); err != nil {
		t.Fatal(err)
	}
	return id
}
