package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
)

// TestServerHonoursIfMatch records what the S3 server does with If-Match on plain
// and ranged GETs: the stack's versitygw answers 412. (The Reader also compares the
// ETag of every response, for servers that ignore the header.)
func TestServerHonoursIfMatch(t *testing.T) {
	t.Parallel()
	c, bucket := testenv.S3(t)
	key := "p/ref/ifmatch.sql.gz"
	etag := put(t, c, bucket, key, bytes.Repeat([]byte("a"), 4096))
	for _, rng := range []*string{nil, aws.String("bytes=100-")} {
		_, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: rng,
			IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)})
		if code := httpStatus(err); code != 412 {
			t.Errorf("range %v, wrong If-Match: status %d (%v), want 412", aws.ToString(rng), code, err)
		}
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: rng,
			IfMatch: aws.String(`"` + etag + `"`)})
		if err != nil {
			t.Errorf("range %v, right If-Match: %v", aws.ToString(rng), err)
			continue
		}
		out.Body.Close()
	}
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// TestPinnedReaderRefusesAnotherVersion: a reader pinned to the verified ETag refuses
// an object overwritten after verification, at the first GET and, with an object of
// the same size replaced mid-stream, at the resume after a dropped connection.
func TestPinnedReaderRefusesAnotherVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1 := bytes.Repeat([]byte("a"), 2<<20)
	v2 := bytes.Repeat([]byte("b"), 2<<20)

	t.Run("at open", func(t *testing.T) {
		t.Parallel()
		c, bucket := testenv.S3(t)
		key := "p/ref/open.sql.gz"
		verified := put(t, c, bucket, key, v1)
		put(t, c, bucket, key, v2)
		_, err := objstore.NewReaderWith(ctx, c, bucket, key, objstore.ReaderOptions{ETag: verified, Size: int64(len(v1))})
		if !errors.Is(err, objstore.ErrObjectChanged) {
			t.Fatalf("err = %v, want ErrObjectChanged", err)
		}
		// The right ETag with another size: the server answers 200 and the Reader's own
		// check of the response refuses it (the path for servers that ignore If-Match).
		current := put(t, c, bucket, key, v2)
		_, err = objstore.NewReaderWith(ctx, c, bucket, key, objstore.ReaderOptions{ETag: current, Size: int64(len(v2)) + 1})
		if !errors.Is(err, objstore.ErrObjectChanged) {
			t.Fatalf("size mismatch: err = %v, want ErrObjectChanged", err)
		}
	})
	t.Run("after a resume", func(t *testing.T) {
		t.Parallel()
		c, bucket := testenv.S3(t)
		key := "p/ref/resume.sql.gz"
		verified := put(t, c, bucket, key, v1)
		cfg := testenv.Config(t).S3
		cfg.Endpoint = "http://" + testenv.CutProxy(t, cfg.Endpoint[len("http://"):], 500_000, 1)
		cut, err := objstore.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		r, err := objstore.NewReaderWith(ctx, cut, bucket, key, objstore.ReaderOptions{ETag: verified, Size: int64(len(v1)),
			OnChanged: func(*objstore.ChangedError) { changed++ }})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		head := make([]byte, 100_000)
		if _, err := io.ReadFull(r, head); err != nil {
			t.Fatal(err)
		}
		put(t, c, bucket, key, v2)
		rest, err := io.ReadAll(r)
		if !errors.Is(err, objstore.ErrObjectChanged) {
			t.Fatalf("err = %v after %d more bytes, want ErrObjectChanged", err, len(rest))
		}
		if bytes.Contains(rest, []byte("b")) {
			t.Fatal("bytes of the new version were delivered")
		}
		if changed != 1 || r.Resumed != 0 && r.Offset() >= int64(len(v1)) {
			t.Errorf("OnChanged called %d times, offset %d", changed, r.Offset())
		}
	})
}
