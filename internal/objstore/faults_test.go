package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
)

// fixture puts a random object and returns a client reaching S3 through a
// FaultProxy with opts.
func fixture(t *testing.T, size int, opts testenv.FaultOptions) (direct, faulty *s3.Client, p *testenv.FaultProxy, bucket, key string, body []byte) {
	t.Helper()
	direct, bucket = testenv.S3(t)
	body = make([]byte, size)
	_, _ = rand.Read(body)
	key = "p/ref/20260101T000000Z.sql.gz"
	put(t, direct, bucket, key, body)
	cfg := testenv.Config(t).S3
	p = testenv.NewFaultProxy(t, strings.TrimPrefix(cfg.Endpoint, "http://"), opts)
	cfg.Endpoint = "http://" + p.Addr
	faulty, err := objstore.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return direct, faulty, p, bucket, key, body
}

func put(t *testing.T, c *s3.Client, bucket, key string, body []byte) string {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`)
}

type readResult struct {
	data []byte
	err  error
}

func readAllAsync(r io.Reader) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		b, err := io.ReadAll(r)
		ch <- readResult{b, err}
	}()
	return ch
}

// readThroughOutage reads r to its end while the proxy's outage lasts: the
// read must not end before the proxy has refused it refusals times; then the
// outage ends and the read must complete. It returns what was read.
func readThroughOutage(t *testing.T, r io.Reader, p *testenv.FaultProxy, refusals int) []byte {
	t.Helper()
	res := readAllAsync(r)
	for range refusals {
		select {
		case <-p.Refused():
		case got := <-res:
			t.Fatalf("read ended during the outage: %d bytes, %v", len(got.data), got.err)
		}
	}
	p.EndOutage()
	got := <-res
	if got.err != nil {
		t.Fatalf("read after the outage: %v", got.err)
	}
	return got.data
}

// TestReaderRidesOutAnOutage: the connection drops mid-body and S3 refuses
// connections until the reader has been refused three times (about two seconds of
// backoff); the read then completes with exactly the object's bytes.
func TestReaderRidesOutAnOutage(t *testing.T) {
	t.Parallel()
	_, c, p, bucket, key, body := fixture(t, 2<<20, testenv.FaultOptions{OutageAfter: 600_000})
	r, err := objstore.NewReaderWith(context.Background(), c, bucket, key, objstore.ReaderOptions{RetryFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readThroughOutage(t, r, p, 3); !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes, not the object's %d", len(got), len(body))
	}
	if r.Resumed < 1 {
		t.Errorf("resumed %d times", r.Resumed)
	}
}

// TestReaderGivesUpAfterTheRetryWindow: an outage longer than RetryFor fails the read
// with an error saying so, not with a changed-object error, after several attempts.
func TestReaderGivesUpAfterTheRetryWindow(t *testing.T) {
	t.Parallel()
	_, c, p, bucket, key, _ := fixture(t, 2<<20, testenv.FaultOptions{OutageAfter: 600_000})
	r, err := objstore.NewReaderWith(context.Background(), c, bucket, key, objstore.ReaderOptions{RetryFor: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	got := <-readAllAsync(r)
	took := time.Since(start)
	if got.err == nil || errors.Is(got.err, objstore.ErrObjectChanged) || !strings.Contains(got.err.Error(), "gave up at byte") {
		t.Fatalf("err = %v, want a clear give-up", got.err)
	}
	refused := len(p.Refused())
	if refused < 2 {
		t.Errorf("refused %d connections: the reader did not retry", refused)
	}
	if took > time.Minute {
		t.Errorf("gave up after %s, far beyond the 1.5s window", took)
	}
	if int64(len(got.data)) != r.Offset() || len(got.data) < 500_000 {
		t.Errorf("delivered %d bytes, offset %d", len(got.data), r.Offset())
	}
	t.Logf("gave up after %s and %d refused connections: %v", took, refused, got.err)
}

// TestReaderCutsASilentConnection: a connection that stops delivering is cut after
// IdleTimeout and the read resumes by range, ending with exactly the object's bytes.
func TestReaderCutsASilentConnection(t *testing.T) {
	t.Parallel()
	_, c, p, bucket, key, body := fixture(t, 2<<20, testenv.FaultOptions{StallAfter: 700_000, Stalls: 1})
	r, err := objstore.NewReaderWith(context.Background(), c, bucket, key, objstore.ReaderOptions{IdleTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := <-readAllAsync(r)
	if got.err != nil {
		t.Fatalf("read through a stall: %v", got.err)
	}
	if !bytes.Equal(got.data, body) {
		t.Fatalf("read %d bytes, not the object's %d", len(got.data), len(body))
	}
	if len(p.Stalled()) != 1 || r.Resumed < 1 {
		t.Errorf("stalls %d, resumed %d", len(p.Stalled()), r.Resumed)
	}
}

// TestReaderPermanentErrorsAreNotRetried: a missing key (404) and a version that is
// not there (412) fail at once although the retry window is long.
func TestReaderPermanentErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	direct, _, _, bucket, key, body := fixture(t, 1000, testenv.FaultOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := objstore.NewReaderWith(ctx, direct, bucket, "p/ref/missing.sql.gz", objstore.ReaderOptions{RetryFor: time.Hour})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Errorf("missing key: err = %v, want NoSuchKey at once", err)
	}
	etag := put(t, direct, bucket, key, body)
	var seen *objstore.ChangedError
	_, err = objstore.NewReaderWith(ctx, direct, bucket, key, objstore.ReaderOptions{ETag: "0123456789abcdef0123456789abcdef", RetryFor: time.Hour,
		OnChanged: func(e *objstore.ChangedError) { seen = e }})
	if !errors.Is(err, objstore.ErrObjectChanged) || seen == nil || seen.Got != etag {
		t.Errorf("wrong version: err = %v, OnChanged saw %+v, want ErrObjectChanged with the current ETag %s", err, seen, etag)
	}
	if !strings.HasPrefix(err.Error(), "the snapshot object changed after it was verified") {
		t.Errorf("message = %q", err)
	}
}
