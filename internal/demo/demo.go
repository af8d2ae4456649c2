// Package demo seeds the dev stack with demo projects: real databases on the
// project cluster with a platform-like schema, changed day by day, and 14
// daily snapshots each made with pg_dump --no-owner --no-privileges | gzip,
// stored backdated one day apart. One snapshot is deliberately truncated.
package demo

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/snapshots"
)

//go:embed schema.sql
var schemaSQL string

// Refs are the demo projects; the second one's newest snapshot is cut short.
var Refs = []string{"proj-alpha", "proj-bravo", "proj-charlie"}

// Days is how many daily snapshots each demo project gets.
const Days = 14

// Deps is what seeding needs.
type Deps struct {
	Config config.Config
	Pool   *pgxpool.Pool // the portal's database
	S3     interface {
		s3.ListObjectsV2APIClient
		PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
		HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
		CreateBucket(context.Context, *s3.CreateBucketInput, ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	}
	Log *slog.Logger
	Now time.Time // zero: time.Now
	// LoginsFile receives the demo users' generated passwords.
	LoginsFile string
	// Refs are the projects to seed; nil means Refs. The second one gets a
	// truncated newest snapshot.
	Refs []string
}

// DatabaseName is the project database of ref on the cluster.
func DatabaseName(ref string) string { return snapshots.DatabaseName(ref) }

// Seed creates whatever demo project is missing its database or snapshots.
func Seed(ctx context.Context, d Deps) error {
	client, ok := d.S3.(*s3.Client)
	if !ok {
		return fmt.Errorf("demo: S3 client of unexpected type %T", d.S3)
	}
	if err := objstore.EnsureBucket(ctx, client, d.Config.S3.Bucket); err != nil {
		return err
	}
	if err := seedUsers(ctx, d.Pool, d.LoginsFile); err != nil {
		return err
	}
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	refs := d.Refs
	if refs == nil {
		refs = Refs
	}
	for i, ref := range refs {
		n, err := countSnapshots(ctx, client, d.Config.S3, ref)
		if err != nil {
			return err
		}
		if n >= Days {
			d.Log.Info("demo project present", "project_ref", ref, "snapshots", n)
			if err := register(ctx, d.Pool, ref); err != nil {
				return err
			}
			continue
		}
		if err := seedProject(ctx, d, client, ref, now, i == 1); err != nil {
			return fmt.Errorf("demo project %s: %w", ref, err)
		}
	}
	return nil
}

func countSnapshots(ctx context.Context, c *s3.Client, cfg config.S3, ref string) (int, error) {
	prefix := cfg.Prefix + "/" + ref + "/"
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &cfg.Bucket, Prefix: &prefix})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("list s3://%s/%s: %w", cfg.Bucket, prefix, err)
		}
		n += len(page.Contents)
	}
	return n, nil
}

func register(ctx context.Context, pool *pgxpool.Pool, ref string) error {
	_, err := pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source, owner_role) VALUES ($1, $2, 'registered', $3)
		ON CONFLICT (ref) DO UPDATE SET database_name = EXCLUDED.database_name, source = 'registered',
			owner_role = EXCLUDED.owner_role, updated_at = now()`,
		ref, DatabaseName(ref), OwnerRole(DatabaseName(ref)))
	if err != nil {
		return fmt.Errorf("register project %s: %w", ref, err)
	}
	return nil
}

func seedProject(ctx context.Context, d Deps, client *s3.Client, ref string, now time.Time, broken bool) error {
	dbname := DatabaseName(ref)
	url, err := CreateDatabase(ctx, d.Config.ProjectsAdminURL, dbname)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	first := now.UTC().Truncate(24*time.Hour).Add(2*time.Hour).AddDate(0, 0, -(Days - 1))
	if first.After(now) {
		first = first.AddDate(0, 0, -1)
	}
	for day := 0; day < Days; day++ {
		if err := ChangeDay(ctx, conn, ref, day); err != nil {
			return fmt.Errorf("day %d: %w", day, err)
		}
		dump, err := pgDump(ctx, d.Config.PGDump, url)
		if err != nil {
			return err
		}
		at := first.AddDate(0, 0, day)
		if broken && day == Days-1 {
			dump = dump[:len(dump)/2] // a truncated gzip, for the portal to flag
		}
		key := fmt.Sprintf("%s/%s/%s.sql.gz", d.Config.S3.Prefix, ref, at.Format("20060102T150405Z"))
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &d.Config.S3.Bucket, Key: &key, Body: bytes.NewReader(dump),
			ContentLength: ptr(int64(len(dump))),
		}); err != nil {
			return fmt.Errorf("upload %s: %w", key, err)
		}
	}
	d.Log.Info("demo project seeded", "project_ref", ref, "database", dbname, "snapshots", Days)
	return register(ctx, d.Pool, ref)
}

func ptr[T any](v T) *T { return &v }

// CreateDatabase (re)creates database dbname on the cluster of adminURL with
// the demo schema, owned by a customer role of its own (OwnerRole: LOGIN,
// no rights beyond its database, as a platform's project role), and returns
// its admin URL. Tests use it for realistic projects.
func CreateDatabase(ctx context.Context, adminURL, dbname string) (string, error) {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("PORTAL_PROJECTS_ADMIN_URL: %w", err)
	}
	defer admin.Close(ctx)
	q := pgx.Identifier{dbname}.Sanitize()
	owner := OwnerRole(dbname)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)"); err != nil {
		return "", err
	}
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, owner).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{owner}.Sanitize()+" LOGIN"); err != nil {
			return "", fmt.Errorf("create role %s: %w", owner, err)
		}
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+q+" OWNER "+pgx.Identifier{owner}.Sanitize()); err != nil {
		return "", err
	}
	cl, err := cluster.New(adminURL)
	if err != nil {
		return "", err
	}
	url := cl.URL(dbname)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "", err
	}
	// The customer makes the schema, as on the platform: everything is owned
	// by the owner role (the dev stack trusts local logins).
	cfg.User, cfg.Password = owner, ""
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connect as %s: %w", owner, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, schemaSQL); err != nil {
		return "", fmt.Errorf("create schema: %w", err)
	}
	return url, nil
}

// OwnerRole is the customer role owning demo database dbname.
func OwnerRole(dbname string) string { return cluster.OwnerRoleFor(dbname) }

// ChangeDay makes one day of changes, so snapshots differ from day to day.
func ChangeDay(ctx context.Context, conn *pgx.Conn, ref string, day int) error {
	batch := []string{
		fmt.Sprintf(`INSERT INTO auth.users (email, full_name)
			SELECT format('user%%s.d%s@%s.example', g), format('User %%s of day %s', g)
			FROM generate_series(1, 40) g`, fmt.Sprint(day), ref, fmt.Sprint(day)),
		fmt.Sprintf(`INSERT INTO public.orders (user_id, status, total, tags, details)
			SELECT u.id, (ARRAY['pending','paid','shipped','cancelled'])[1 + (u.id %% 4)]::order_status,
			       (u.id * 137 + %d) %% 100000, ARRAY['day%d', 'batch'], jsonb_build_object('day', %d, 'note', 'tab	and \ backslash')
			FROM auth.users u ORDER BY u.id DESC LIMIT 120`, day, day, day),
		fmt.Sprintf(`INSERT INTO storage.objects (owner_id, path, body)
			SELECT id, format('avatars/%%s-%d.png', id), decode(md5(id::text || '%d'), 'hex')
			FROM auth.users ORDER BY id DESC LIMIT 20`, day, day),
		fmt.Sprintf(`INSERT INTO public.events (at, kind, payload)
			SELECT timestamptz '2025-12-20' + (g * interval '1 hour') + (%d * interval '1 day'), 'login', jsonb_build_object('n', g)
			FROM generate_series(1, 60) g`, day),
		fmt.Sprintf(`INSERT INTO ai.documents (object_id, title, embedding)
			SELECT id, format('Document %%s', id), ARRAY[random()::real, random()::real, random()::real]
			FROM storage.objects ORDER BY id DESC LIMIT 10`),
		fmt.Sprintf(`INSERT INTO public."User Events" ("user", note)
			SELECT id, E'day %d\tnote with a tab, a backslash \\ and\na newline' FROM auth.users ORDER BY id DESC LIMIT 5`, day),
		fmt.Sprintf(`UPDATE public.orders SET status = 'shipped' WHERE status = 'paid' AND id %% 7 = %d`, day%7),
		fmt.Sprintf(`DELETE FROM public.orders WHERE status = 'cancelled' AND id %% 5 = %d`, day%5),
	}
	for _, sql := range batch {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%w\n%s", err, sql)
		}
	}
	return nil
}

// pgDump runs pg_dump --no-owner --no-privileges on url and gzips it.
func pgDump(ctx context.Context, bin, url string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, "--no-owner", "--no-privileges", "--dbname", url)
	var out, stderr bytes.Buffer
	gz := gzip.NewWriter(&out)
	cmd.Stdout = gz
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pg_dump: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
