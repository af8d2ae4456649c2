package demo_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/testenv"
)

// TestSeedMakesRealSnapshotsOnce seeds two projects under fresh names into a
// fresh bucket and portal database: 14 daily pg_dump snapshots each, a day
// apart, the second project's newest truncated, demo users with their
// logins written; a second seed changes nothing.
func TestSeedMakesRealSnapshotsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testenv.Config(t)
	client, bucket := testenv.S3(t)
	cfg.S3.Bucket = bucket
	pool := testenv.PortalPool(t)
	refs := []string{testenv.Name("demo-a-"), testenv.Name("demo-b-")}
	for _, r := range refs {
		t.Cleanup(func() { testenv.DropDatabase(t, demo.DatabaseName(r)) })
	}
	logins := t.TempDir() + "/logins"
	d := demo.Deps{Config: cfg, Pool: pool, S3: client, Log: testenv.Logger(t), Refs: refs, LoginsFile: logins}
	if err := demo.Seed(ctx, d); err != nil {
		t.Fatal(err)
	}

	for i, ref := range refs {
		prefix := cfg.S3.Prefix + "/" + ref + "/"
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != demo.Days {
			t.Fatalf("%s has %d snapshots, want %d", ref, len(out.Contents), demo.Days)
		}
		var prev time.Time
		for j, o := range out.Contents {
			at, err := time.Parse("20060102T150405Z.sql.gz", strings.TrimPrefix(*o.Key, prefix))
			if err != nil {
				t.Fatalf("key %s: %v", *o.Key, err)
			}
			if j > 0 && at.Sub(prev) != 24*time.Hour {
				t.Fatalf("%s: snapshots %v and %v are not a day apart", ref, prev, at)
			}
			prev = at
			dump, err := gunzip(ctx, client, bucket, *o.Key)
			newest := j == len(out.Contents)-1
			switch {
			case i == 1 && newest:
				if err == nil {
					t.Fatalf("%s: the newest snapshot should be a truncated gzip", *o.Key)
				}
			case err != nil:
				t.Fatalf("%s: %v", *o.Key, err)
			case !strings.Contains(dump, "-- PostgreSQL database dump complete") || !strings.Contains(dump, `CREATE TABLE public."User Events"`):
				t.Fatalf("%s is not a complete pg_dump of the demo schema", *o.Key)
			}
		}
	}
	var registered int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM projects WHERE ref = ANY($1) AND source = 'registered'`, refs).Scan(&registered); err != nil || registered != 2 {
		t.Fatalf("registered projects: %d, %v", registered, err)
	}
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL(t, demo.DatabaseName(refs[0])))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var users int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM auth.users`).Scan(&users); err != nil || users != 40*demo.Days {
		t.Fatalf("live demo database has %d users (%v), want %d", users, err, 40*demo.Days)
	}

	written, err := os.ReadFile(logins)
	if err != nil || strings.Count(string(written), "password ") != 4 || !strings.Contains(string(written), "approver@demo.localhost") {
		t.Fatalf("demo logins file: %q, %v", written, err)
	}

	before, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(ctx, d); err != nil {
		t.Fatalf("second seed: %v", err)
	}
	after, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Contents) != len(before.Contents) || *after.Contents[0].ETag != *before.Contents[0].ETag {
		t.Fatal("a second seed changed the snapshots")
	}
	if again, _ := os.ReadFile(logins); string(again) != string(written) {
		t.Fatal("a second seed made users again")
	}
}

func gunzip(ctx context.Context, c *s3.Client, bucket, key string) (string, error) {
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return "", err
	}
	defer obj.Body.Close()
	raw, err := io.ReadAll(obj.Body)
	if err != nil {
		return "", err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(zr)
	return string(b), err
}
