package snapshots

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
)

// BenchmarkSyncScale measures the sync of BENCH_SYNC_PROJECTS (default
// 10,000) projects x BENCH_SYNC_SNAPSHOTS (default 30) tiny objects against
// the local S3 server: the first sync (full), an idle incremental sync, an
// incremental sync after 100 new snapshots, an idle full sync, and the
// projects list queries. BENCH_SYNC_WHOLE_PREFIX=1 makes the full syncs
// list the whole prefix in 1,000-key pages instead of each project's prefix
// in parallel. The objects are seeded once into the bucket
// BENCH_SYNC_BUCKET (default "bench-sync") and kept for the next run.
// Run it with scripts/bench-sync.sh; each phase runs once whatever -benchtime.
func BenchmarkSyncScale(b *testing.B) {
	projects := envInt("BENCH_SYNC_PROJECTS", 10000)
	per := envInt("BENCH_SYNC_SNAPSHOTS", 30)
	bucket := os.Getenv("BENCH_SYNC_BUCKET")
	if bucket == "" {
		bucket = "bench-sync"
	}
	ctx := context.Background()
	cfg := testenv.Config(b)
	client, err := objstore.New(ctx, cfg.S3)
	if err != nil {
		b.Fatal(err)
	}
	if err := objstore.EnsureBucket(ctx, client, bucket); err != nil {
		b.Fatal(err)
	}
	prefix := fmt.Sprintf("bench-%dx%d", projects, per)
	start := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	seedStart := time.Now()
	seeded := seedBench(b, client, bucket, prefix, projects, per, start)
	b.Logf("seed: %d objects put in %s (objects already present are not put again)", seeded, time.Since(seedStart).Round(time.Millisecond))

	// The 100 snapshots the incremental phase adds, removed first in case an
	// earlier run was interrupted before it deleted them.
	next := start.AddDate(0, 0, per)
	var extra []string
	for i := 0; i < projects && len(extra) < 100; i += max(1, projects/100) {
		extra = append(extra, KeyFor(prefix, benchRef(i), next))
	}
	for _, k := range extra {
		_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)})
	}
	d := Deps{Pool: testenv.PortalPool(b), S3: client, Bucket: bucket, Prefix: prefix}
	report := func(name string, res SyncResult) {
		b.Logf("%-34s %8s  requests %6d  listed %7d  added %6d  changed %d  deleted %d",
			name, res.Duration.Round(time.Millisecond), res.Requests, res.Listed, res.Added, res.Changed, res.Deleted)
		b.ReportMetric(res.Duration.Seconds(), name+"_s")
	}
	b.ResetTimer()
	for range b.N {
		whole := os.Getenv("BENCH_SYNC_WHOLE_PREFIX") != ""
		res := mustSyncB(b, d, SyncOptions{Full: true, WholePrefix: whole})
		if res.Added != projects*per {
			b.Fatalf("first sync added %d, want %d", res.Added, projects*per)
		}
		report("first_full", res)
		report("incremental_idle", mustSyncB(b, d, SyncOptions{}))
		// 100 projects get their next daily snapshot.
		for _, key := range extra {
			putBench(b, client, bucket, key)
		}
		res = mustSyncB(b, d, SyncOptions{})
		if res.Added != len(extra) {
			b.Errorf("incremental added %d, want %d", res.Added, len(extra))
		}
		report("incremental_100_new", res)
		report("full_idle", mustSyncB(b, d, SyncOptions{Full: true, WholePrefix: whole}))
		for _, k := range extra {
			_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)})
		}
		res = mustSyncB(b, d, SyncOptions{Full: true, WholePrefix: whole})
		if res.Deleted != len(extra) {
			b.Errorf("full sync noticed %d deletions, want %d", res.Deleted, len(extra))
		}
		report("full_100_deleted", res)

		for _, q := range []struct {
			name string
			p    ProjectListParams
		}{
			{"list_page1", ProjectListParams{Limit: 50}},
			{"list_page150", ProjectListParams{Limit: 50, Offset: 7450}},
			{"list_search", ProjectListParams{Search: "p-0042", Limit: 50}},
		} {
			t0 := time.Now()
			const n = 20
			for range n {
				if _, _, err := ProjectList(ctx, d.Pool, q.p); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(t0) / n
			b.Logf("%-34s %8s per query", q.name, per.Round(time.Microsecond))
			b.ReportMetric(float64(per.Microseconds())/1000, q.name+"_ms")
		}
	}
}

func benchRef(i int) string { return fmt.Sprintf("p-%05d", i) }

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func mustSyncB(b *testing.B, d Deps, opts SyncOptions) SyncResult {
	b.Helper()
	res, err := Sync(context.Background(), d, opts)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

var benchBody = []byte("not a real dump\n")

func putBench(b *testing.B, client *s3.Client, bucket, key string) {
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key,
		Body: bytes.NewReader(benchBody), ContentLength: aws.Int64(int64(len(benchBody)))})
	if err != nil {
		b.Fatalf("put %s: %v", key, err)
	}
}

// seedBench puts the objects of every project that does not have them all
// yet (one listing per 1,000 keys finds what is there).
func seedBench(b *testing.B, client *s3.Client, bucket, prefix string, projects, per int, start time.Time) int {
	ctx := context.Background()
	// The marker, written once every object is in, sits outside any project.
	marker := prefix + "/.seeded"
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &marker}); err == nil {
		return 0
	}
	have := map[string]int{}
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range page.Contents {
			if ref, _, ok := RefFromKey(prefix, aws.ToString(o.Key)); ok {
				have[ref]++
			}
		}
	}
	var put atomic.Int64
	var mu sync.Mutex
	lastLog := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range projects {
		ref := benchRef(i)
		if have[ref] >= per {
			continue
		}
		for j := range per {
			g.Go(func() error {
				key := KeyFor(prefix, ref, start.AddDate(0, 0, j))
				_, err := client.PutObject(gctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key,
					Body: bytes.NewReader(benchBody), ContentLength: aws.Int64(int64(len(benchBody)))})
				if n := put.Add(1); n%20000 == 0 {
					mu.Lock()
					b.Logf("seeded %d objects (%s since last report)", n, time.Since(lastLog).Round(time.Second))
					lastLog = time.Now()
					mu.Unlock()
				}
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	putBench(b, client, bucket, marker)
	return int(put.Load())
}
