package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/snapshots"
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

func putObject(t *testing.T, d snapshots.Deps, key string, body []byte) {
	t.Helper()
	_, err := d.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &d.Bucket, Key: &key,
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func deleteObject(t *testing.T, d snapshots.Deps, key string) {
	t.Helper()
	if _, err := d.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &d.Bucket, Key: &key}); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.Bytes()
}

// dumpSQL is a small complete plain-format dump.
const dumpSQL = `--
-- PostgreSQL database dump
--

-- Dumped from database version 15.8
-- Dumped by pg_dump version 15.8

SET statement_timeout = 0;
SET client_encoding = 'UTF8';

--
-- Name: items; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.items (
    id integer NOT NULL,
    name text
);

--
-- Name: empty; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.empty (
    id integer
);

--
-- Data for Name: items; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.items (id, name) FROM stdin;
1	one
2	two
3	three
\.

--
-- PostgreSQL database dump complete
--

`

func mustSync(t *testing.T, d snapshots.Deps, opts snapshots.SyncOptions) snapshots.SyncResult {
	t.Helper()
	res, err := snapshots.Sync(context.Background(), d, opts)
	if err != nil {
		t.Fatalf("sync %+v: %v", opts, err)
	}
	return res
}

const sourceSchema = `
CREATE SCHEMA app;
CREATE TABLE app.users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, note text);
CREATE TABLE public.orders (id bigserial PRIMARY KEY, user_id int REFERENCES app.users (id), total numeric, tags text[]);
CREATE TABLE public."Odd Name" (k text PRIMARY KEY, v jsonb);
CREATE TABLE public.empty (id int);
INSERT INTO app.users (email, note) SELECT format('u%s@example.com', g), E'tab\there \\ and\nnewline' FROM generate_series(1, 250) g;
INSERT INTO public.orders (user_id, total, tags) SELECT 1 + g % 250, g * 1.5, ARRAY['a', 'b'] FROM generate_series(1, 1000) g;
INSERT INTO public."Odd Name" VALUES ('x', '{"a": 1}'), ('y', NULL);
CREATE INDEX orders_user ON public.orders (user_id);
`

// registeredProject makes a project database with data and registers it.
func registeredProject(t *testing.T, d snapshots.Deps, ref string) string {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sourceSchema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	if _, err := d.Pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')`,
		ref, strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Fatal(err)
	}
	return dbURL
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
