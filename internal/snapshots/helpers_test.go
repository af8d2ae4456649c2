package snapshots

import (
	"bytes"
	"compress/gzip"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
	_, err := d.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &d.Bucket, Key: &key,
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func deleteObject(t *testing.T, d Deps, key string) {
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

func mustSync(t *testing.T, d Deps, opts SyncOptions) SyncResult {
	t.Helper()
	res, err := Sync(context.Background(), d, opts)
	if err != nil {
		t.Fatalf("sync %+v: %v", opts, err)
	}
	return res
}
