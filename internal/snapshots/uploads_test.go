package snapshots

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// unfinishedUploads lists the keys of the unfinished multipart uploads under
// prefix.
func unfinishedUploads(t *testing.T, d Deps, prefix string) []string {
	t.Helper()
	out, err := d.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &d.Bucket, Prefix: &prefix})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// TestCancelledCaptureLeavesNoUnfinishedUpload cancels a capture once its
// multipart upload has begun (a pg_dump that writes more than one upload part
// of random bytes, which gzip cannot shrink, as TABLE DATA entries of 1 MB, so
// the seekable writer closes a gzip member every two of them and the upload
// gets its first part, then hangs): the capture fails with the cancellation,
// and no unfinished upload of it remains. The cancel stops the compressor at
// once, so a fake still in a `head` child is killed with its process group;
// before that, the orphan held stderr open and Wait never returned.
func TestCancelledCaptureLeavesNoUnfinishedUpload(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	registeredProject(t, d, "proj-cut")
	p := filepath.Join(t.TempDir(), "pg_dump")
	script := `#!/bin/sh
printf -- '--\n-- PostgreSQL database dump\n--\n\n'
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do
	printf -- '\n--\n-- Data for Name: t%s; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n' "$i"
	head -c 1000000 /dev/urandom
done
exec sleep 120
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d.PGDump = p
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := CaptureWith(ctx, d, "proj-cut", true, nil, refuseInspect); done <- err }()

	prefix := d.Prefix + "/proj-cut/"
	deadline := time.Now().Add(3 * time.Minute) // gzip of the first part is slow under -race on a busy machine
	for len(unfinishedUploads(t, d, prefix)) == 0 {
		select {
		case err := <-done:
			t.Fatalf("capture ended before its multipart upload began: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload began within 3 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled capture: %v", err)
		}
	case <-time.After(2 * time.Minute): // the abort alone may take its one-minute timeout
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
		t.Fatalf("the cancelled capture did not return in 2 minutes; goroutines:\n%s", stacks.String())
	}
	if left := unfinishedUploads(t, d, prefix); len(left) != 0 {
		t.Fatalf("unfinished uploads left by the cancelled capture: %v", left)
	}
}

// TestAbortStaleUploads: the sweep aborts unfinished uploads under the
// snapshot prefix older than its age, and leaves a recent one and one
// outside the prefix.
func TestAbortStaleUploads(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	begin := func(key string) {
		t.Helper()
		if _, err := d.S3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &d.Bucket, Key: &key}); err != nil {
			t.Fatal(err)
		}
	}
	inside, outside := d.Prefix+"/proj-stale/20260501T020000Z.sql.gz", "elsewhere/x.sql.gz"
	begin(inside)
	begin(outside)

	if got, err := AbortStaleUploads(ctx, d, StaleUploadAge, time.Now()); err != nil || len(got) != 0 {
		t.Fatalf("a fresh upload was aborted: %v %v", got, err)
	}
	got, err := AbortStaleUploads(ctx, d, StaleUploadAge, time.Now().Add(StaleUploadAge+time.Minute))
	if err != nil || !slices.Equal(got, []string{inside}) {
		t.Fatalf("stale uploads aborted: %v %v; want %s", got, err, inside)
	}
	if left := unfinishedUploads(t, d, d.Prefix+"/"); len(left) != 0 {
		t.Fatalf("stale upload left under the prefix: %v", left)
	}
	if left := unfinishedUploads(t, d, "elsewhere/"); !slices.Equal(left, []string{outside}) || !strings.HasPrefix(left[0], "elsewhere/") {
		t.Fatalf("the upload outside the snapshot prefix was touched: %v", left)
	}
}

// TestAbortUploadFindsTheUnnamedUpload: a cancel that lands while
// CreateMultipartUpload is in flight leaves an upload the server made and
// the upload's error cannot name; the failed capture's abort finds it by its
// exact key, and leaves an upload of a neighbouring key alone.
func TestAbortUploadFindsTheUnnamedUpload(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	key := d.Prefix + "/proj-unnamed/20260601T020000Z.sql.gz"
	neighbour := key + ".tables.sql.gz"
	for _, k := range []string{key, neighbour} {
		if _, err := d.S3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &d.Bucket, Key: &k}); err != nil {
			t.Fatal(err)
		}
	}
	if err := abortUpload(ctx, d, key, context.Canceled); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if left := unfinishedUploads(t, d, d.Prefix+"/proj-unnamed/"); !slices.Equal(left, []string{neighbour}) {
		t.Fatalf("unfinished uploads after the abort: %v; want only %s", left, neighbour)
	}
}
