// Package testenv gives tests the real services of the dev stack
// (scripts/stack.sh): fresh project databases on the project cluster
// (PORTAL_PROJECTS_ADMIN_URL), portal databases with every migration applied
// on the portal's own cluster (PORTAL_DATABASE_URL's, a different one), and
// fresh buckets on the local S3 server. A test that cannot reach them fails;
// it never skips.
package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/migrations"
)

var (
	envOnce sync.Once
	envVals map[string]string
	envErr  error
)

// RepoRoot is the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working folder")
		}
		dir = parent
	}
}

func loadEnv() (map[string]string, error) {
	envOnce.Do(func() {
		path := os.Getenv("PORTAL_ENV_FILE")
		if path == "" {
			root, err := RepoRoot()
			if err != nil {
				envErr = err
				return
			}
			path = filepath.Join(root, ".stack", "env")
		}
		f, err := os.Open(path)
		if err != nil {
			envErr = fmt.Errorf("read the stack's env file (start it with `make up` or run `make test`): %w", err)
			return
		}
		defer f.Close()
		envVals = map[string]string{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if ok {
				envVals[k] = v
			}
		}
		envErr = sc.Err()
	})
	return envVals, envErr
}

// Env returns one variable of the stack's env file.
func Env(t testing.TB, key string) string {
	t.Helper()
	vals, err := loadEnv()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return vals[key]
}

// Config is the stack's configuration, as the binaries would load it.
func Config(t testing.TB) config.Config {
	t.Helper()
	vals, err := loadEnv()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c, err := config.Load(func(k string) string { return vals[k] })
	if err != nil {
		t.Fatalf("testenv: stack config: %v", err)
	}
	return c
}

// PGBin is the folder of the cluster's server and client binaries (pg_dump).
func PGBin(t testing.TB) string { return Env(t, "PORTAL_PG_BIN") }

// AdminURL is a superuser URL of the project cluster.
func AdminURL(t testing.TB) string {
	t.Helper()
	return Config(t).ProjectsAdminURL
}

// Logger writes to the test's log. Lines logged after the test ended (by a
// background goroutine of a library, such as River UI's query cacher, that
// outlives the test) go to stderr, marked, instead of panicking the binary
// with "Log in goroutine after Test has completed".
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	line := strings.TrimRight(string(p), "\n")
	if w.done {
		fmt.Fprintf(os.Stderr, "[after %s ended] %s\n", w.t.Name(), line)
		return len(p), nil
	}
	w.t.Log(line)
	return len(p), nil
}

// Name returns a fresh lowercase identifier with prefix, usable as a database
// or bucket name.
func Name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// PortalAdminURL is a superuser URL of the portal's own cluster (never the
// project cluster: restores must have no path to it).
func PortalAdminURL(t testing.TB) string {
	t.Helper()
	return withDatabase(t, Config(t).DatabaseURL, "postgres")
}

func withDatabase(t testing.TB, admin, name string) string {
	t.Helper()
	c, err := cluster.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	return c.URL(name)
}

func adminConn(t testing.TB, ctx context.Context) *pgx.Conn {
	t.Helper()
	return connectAdmin(t, ctx, AdminURL(t), "project")
}

func connectAdmin(t testing.TB, ctx context.Context, url, which string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("testenv: connect to the %s cluster (is the stack up? `make up`): %v", which, err)
	}
	return conn
}

// DatabaseURL replaces the database name of the (project cluster's) admin URL.
func DatabaseURL(t testing.TB, name string) string {
	t.Helper()
	return withDatabase(t, AdminURL(t), name)
}

// RoleURL reaches database name of the project cluster logged in as role
// (the dev stack trusts local logins), as a customer would connect.
func RoleURL(t testing.TB, name, role string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(DatabaseURL(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", url.PathEscape(role), cfg.Host, cfg.Port, url.PathEscape(name))
}

// OwnedDatabase is a project database owned by a customer role of its own.
type OwnedDatabase struct {
	Name  string
	URL   string // admin URL of the database
	Owner string // the owning role: LOGIN, no other rights
}

// NewOwnedDatabase creates an empty database on the project cluster owned by
// a fresh unprivileged LOGIN role, as a platform project is; both are
// dropped when the test ends.
func NewOwnedDatabase(t testing.TB) OwnedDatabase {
	t.Helper()
	name := Name("t_")
	owner := cluster.OwnerRoleFor(name)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := adminConn(t, ctx)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{owner}.Sanitize()+" LOGIN"); err != nil {
		t.Fatalf("testenv: create role %s: %v", owner, err)
	}
	t.Cleanup(func() { DropRole(t, owner) })
	u := createDatabaseOn(t, AdminURL(t), name, "", owner)
	return OwnedDatabase{Name: name, URL: u, Owner: owner}
}

// DropRole drops role on the project cluster if it exists.
func DropRole(t testing.TB, role string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := adminConn(t, ctx)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Errorf("testenv: drop role %s: %v", role, err)
	}
}

// NewDatabase creates an empty database on the project cluster, dropped when
// the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, Name("t_"), "")
}

func createDatabase(t testing.TB, name, template string) string {
	t.Helper()
	return createDatabaseOn(t, AdminURL(t), name, template, "")
}

func createDatabaseOn(t testing.TB, admin, name, template, owner string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := connectAdmin(t, ctx, admin, "")
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if owner != "" {
		sql += " OWNER " + pgx.Identifier{owner}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("testenv: %s: %v", sql, err)
	}
	t.Cleanup(func() { dropDatabaseOn(t, admin, name) })
	return withDatabase(t, admin, name)
}

// DropDatabase drops name on the project cluster if it exists, ending its
// sessions, and the owner role the portal or the demo made for it
// (cluster.OwnerRoleFor) when nothing else holds on to that role.
func DropDatabase(t testing.TB, name string) {
	dropDatabaseOn(t, AdminURL(t), name)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := adminConn(t, ctx)
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{cluster.OwnerRoleFor(name)}.Sanitize())
}

func dropDatabaseOn(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := connectAdmin(t, ctx, admin, "")
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("testenv: drop database %s: %v", name, err)
	}
}

// migrationsHash names the template database, so a changed migration makes a
// new template instead of reusing a stale one.
func migrationsHash() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(migrations.FS, p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// PortalURL creates a database holding the portal's schema (every migration
// and River's) on the portal's own cluster, cloned from a template made once
// per migration set, and returns its URL. It is dropped when the test ends.
func PortalURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	tmpl := "portal_tmpl_" + migrationsHash()
	admin := PortalAdminURL(t)
	conn := connectAdmin(t, ctx, admin, "portal")
	// Test binaries of several packages run at once: one makes the template.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7215)`); err != nil {
		t.Fatal(err)
	}
	var exists bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, tmpl).Scan(&exists)
	if err == nil && !exists {
		err = buildTemplate(ctx, withDatabase(t, admin, tmpl), conn, tmpl)
	}
	_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock(7215)`)
	conn.Close(ctx)
	if err != nil {
		t.Fatalf("testenv: portal template: %v", err)
	}
	return createDatabaseOn(t, admin, Name("portal_t_"), tmpl, "")
}

func buildTemplate(ctx context.Context, tmplURL string, conn *pgx.Conn, tmpl string) error {
	q := pgx.Identifier{tmpl}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+q); err != nil {
		return err
	}
	pool, err := database.Open(ctx, tmplURL)
	if err != nil {
		return err
	}
	err = database.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+q+" WITH IS_TEMPLATE true")
	return err
}

// PortalPool is a pool on a fresh PortalURL database, closed when the test ends.
func PortalPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return PortalPoolAt(t, PortalURL(t))
}

// PortalPoolAt is a pool on the portal database at url (a PortalURL), closed
// when the test ends.
func PortalPoolAt(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := database.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the drop registered earlier
	return pool
}

// S3 returns a client for the local S3 server and a fresh bucket, emptied and
// removed when the test ends.
func S3(t testing.TB) (*s3.Client, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := objstore.New(ctx, Config(t).S3)
	if err != nil {
		t.Fatalf("testenv: s3 client: %v", err)
	}
	bucket := Name("test-")
	if err := objstore.EnsureBucket(ctx, client, bucket); err != nil {
		t.Fatalf("testenv: create bucket on the local S3 server (is the stack up? `make up`): %v", err)
	}
	t.Cleanup(func() { removeBucket(t, client, bucket) })
	return client, bucket
}

func removeBucket(t testing.TB, c *s3.Client, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Errorf("testenv: list %s: %v", bucket, err)
			return
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]s3types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = s3types.ObjectIdentifier{Key: o.Key}
		}
		if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &s3types.Delete{Objects: ids}}); err != nil {
			t.Errorf("testenv: empty %s: %v", bucket, err)
			return
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Errorf("testenv: delete bucket %s: %v", bucket, err)
	}
}
