package jobs

import (
	"bytes"
	"compress/gzip"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
)

const smallDump = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\n" +
	"CREATE TABLE public.t (id integer);\n\nCOPY public.t (id) FROM stdin;\n1\n2\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n"

// TestSnapshotJobs runs the real workers: a sync discovers two snapshots and
// enqueues their verification in the same transaction; the verify workers
// mark one verified and the truncated one corrupt.
func TestSnapshotJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	client, bucket := testenv.S3(t)
	cfg := testenv.Config(t)
	cfg.S3.Bucket = bucket
	cfg.S3.Prefix = "daily"
	cfg.Snapshots.CaptureSchedule = ""
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(smallDump))
	zw.Close()
	good := b.Bytes()
	for key, body := range map[string][]byte{
		"daily/proj-j/20260501T020000Z.sql.gz": good,
		"daily/proj-j/20260502T020000Z.sql.gz": good[:len(good)-12],
	} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
			t.Fatal(err)
		}
	}
	d := Deps{Config: cfg, Pool: pool, S3: client, Log: testenv.Logger(t)}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger: testenv.Logger(t), Queues: Queues(cfg), Workers: Workers(d), TestOnly: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Stop(context.Background()) })
	if _, err := rc.Insert(ctx, snapshots.SyncArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		sum, err := snapshots.ProjectSummaryGet(ctx, pool, "proj-j", time.Now())
		if err == nil && sum.SnapshotCount == 2 && sum.PendingCount == 0 {
			if sum.VerifiedCount != 1 || sum.CorruptCount != 1 {
				t.Fatalf("summary = %+v", sum)
			}
			break
		}
		if time.Now().After(deadline) {
			var jobs string
			_ = pool.QueryRow(ctx, `SELECT coalesce(string_agg(kind || ' ' || state || ' ' || coalesce(errors::text, ''), '; '), '')
				FROM river_job`).Scan(&jobs)
			t.Fatalf("snapshots not verified in time: %+v, %v; jobs: %s", sum, err, jobs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := len(snapshotPeriodicJobs(d)); got != 2 {
		t.Errorf("%d periodic jobs without a capture schedule, want 2 (sync, prune)", got)
	}
	at, _ := snapshots.ParseDailyAt("02:00")
	if n := at.Next(time.Date(2026, 5, 3, 2, 0, 0, 0, time.UTC)); !n.Equal(time.Date(2026, 5, 4, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("next capture = %v", n)
	}
}
