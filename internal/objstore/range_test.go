package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
)

// TestRangeReaderReadsExactlyItsRange: ranges at the start, the middle, the end
// and empty ones deliver exactly their bytes, pinned to the version.
func TestRangeReaderReadsExactlyItsRange(t *testing.T) {
	t.Parallel()
	direct, _, _, bucket, key, body := fixture(t, 1<<20, testenv.FaultOptions{})
	etag := put(t, direct, bucket, key, body)
	n := int64(len(body))
	for _, r := range [][2]int64{{0, 100}, {12345, 600_000}, {n - 10, n}, {500, 500}, {0, n}} {
		rr, err := objstore.NewRangeReader(context.Background(), direct, bucket, key, r[0], r[1],
			objstore.ReaderOptions{ETag: etag, Size: n})
		if err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		got, err := io.ReadAll(rr)
		rr.Close()
		if err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		if !bytes.Equal(got, body[r[0]:r[1]]) {
			t.Fatalf("%v: got %d bytes, not the range's", r, len(got))
		}
	}
}

// TestRangeReaderResumesAfterACut: S3 goes away in the middle of a ranged read;
// once it is back the read resumes with a range of its own from the last byte
// delivered and ends at the range's end with exactly its bytes.
func TestRangeReaderResumesAfterACut(t *testing.T) {
	t.Parallel()
	direct, c, p, bucket, key, body := fixture(t, 3<<20, testenv.FaultOptions{OutageAfter: 700_000})
	etag := put(t, direct, bucket, key, body)
	start, end := int64(100_000), int64(2_500_000)
	rr, err := objstore.NewRangeReader(context.Background(), c, bucket, key, start, end,
		objstore.ReaderOptions{ETag: etag, RetryFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	if got := readThroughOutage(t, rr, p, 1); !bytes.Equal(got, body[start:end]) {
		t.Fatalf("read %d bytes, not the range's %d", len(got), end-start)
	}
	if rr.Resumed < 1 {
		t.Errorf("resumed %d times", rr.Resumed)
	}
}

// TestRangeReaderRefusesAReplacedObject: a ranged read pinned to a version fails
// with ErrObjectChanged when the key now holds another object.
func TestRangeReaderRefusesAReplacedObject(t *testing.T) {
	t.Parallel()
	direct, _, _, bucket, key, body := fixture(t, 100_000, testenv.FaultOptions{})
	etag := put(t, direct, bucket, key, body)
	put(t, direct, bucket, key, append(bytes.Clone(body), 'x'))
	_, err := objstore.NewRangeReader(context.Background(), direct, bucket, key, 10, 5000, objstore.ReaderOptions{ETag: etag})
	if !errors.Is(err, objstore.ErrObjectChanged) {
		t.Fatalf("err = %v, want ErrObjectChanged", err)
	}
}
