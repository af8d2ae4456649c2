package testenv_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
)

func TestPortalDatabaseHasMigrations(t *testing.T) {
	t.Parallel()
	pool := testenv.PortalPool(t)
	ctx := context.Background()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM portal_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no migration recorded")
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatalf("river schema missing: %v", err)
	}
	// A second run applies nothing and fails nothing.
	if err := database.Migrate(ctx, pool, testenv.Logger(t)); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func TestNewDatabaseIsEmptyAndReachable(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("fresh database has %d tables", n)
	}
}

func TestS3BucketRoundTrip(t *testing.T) {
	t.Parallel()
	client, bucket := testenv.S3(t)
	ctx := context.Background()
	body := strings.Repeat("0123456789", 100_000)
	key := "a/b.txt"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	r, err := objstore.NewReader(ctx, client, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(body)) {
		t.Fatalf("size %d, want %d", r.Size(), len(body))
	}
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if sb.String() != body {
		t.Fatalf("read %d bytes, differs from what was written", sb.Len())
	}
}

// TestPortalDatabaseIsNotOnTheProjectCluster: the stack runs two clusters;
// portal databases live on the first, project databases on the second, and a
// role made on the project cluster does not exist on the portal's.
func TestPortalDatabaseIsNotOnTheProjectCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	portal, err := pgx.Connect(ctx, testenv.PortalURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer portal.Close(ctx)
	db := testenv.NewOwnedDatabase(t)
	project, err := pgx.Connect(ctx, testenv.RoleURL(t, db.Name, db.Owner))
	if err != nil {
		t.Fatal(err)
	}
	defer project.Close(ctx)
	var portalID, projectID, portalPort, projectPort string
	q := `SELECT system_identifier::text, current_setting('port') FROM pg_control_system()`
	if err := portal.QueryRow(ctx, q).Scan(&portalID, &portalPort); err != nil {
		t.Fatal(err)
	}
	// pg_control_system needs no superuser.
	if err := project.QueryRow(ctx, q).Scan(&projectID, &projectPort); err != nil {
		t.Fatal(err)
	}
	if portalID == projectID || portalPort == projectPort {
		t.Fatalf("portal and project databases share a cluster (system id %s, port %s)", portalID, portalPort)
	}
	var exists bool
	if err := portal.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, db.Owner).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("project role %s exists on the portal cluster", db.Owner)
	}
	var owner string
	if err := project.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != db.Owner {
		t.Fatalf("owned database is owned by %s, want %s", owner, db.Owner)
	}
}

// TestStackEnvFileIsPrivate: the env file holds the S3 secret, so
// scripts/stack.sh writes it readable by its owner only.
func TestStackEnvFileIsPrivate(t *testing.T) {
	t.Parallel()
	path := os.Getenv("PORTAL_ENV_FILE")
	if path == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(root, ".stack", "env")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf(".stack/env has mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestLoggerOutlivesItsTest: a logger handed to a library whose goroutines
// outlive the test (River UI's query cacher) must not panic the test binary
// when it logs after the test ended.
func TestLoggerOutlivesItsTest(t *testing.T) {
	var log *slog.Logger
	t.Run("inner", func(t *testing.T) {
		log = testenv.Logger(t)
		log.Info("while the test runs")
	})
	log.Info("after the test ended") // would panic: Log in goroutine after inner has completed
}
