// Package snapshottest holds the fixtures the tests of internal/snapshots and
// internal/verify share: a small dump, gzip, S3 objects and a registered
// project with data.
package snapshottest

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/testenv"
)

// DumpSQL is a small complete plain-format dump.
const DumpSQL = `--
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

// Gzip compresses s with compress/gzip.
func Gzip(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.Bytes()
}

// PutObject stores body at key in bucket.
func PutObject(t testing.TB, client *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key,
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// DeleteObject deletes key from bucket.
func DeleteObject(t testing.TB, client *s3.Client, bucket, key string) {
	t.Helper()
	if _, err := client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// SourceSchema is the schema and data of RegisteredProject's database.
const SourceSchema = `
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

// RegisteredProject makes a project database with data (SourceSchema) and
// registers it as project ref in the portal database pool; it returns the
// database's URL.
func RegisteredProject(t testing.TB, pool *pgxpool.Pool, ref string) string {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, SourceSchema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	if _, err := pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')`,
		ref, strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Fatal(err)
	}
	return dbURL
}
