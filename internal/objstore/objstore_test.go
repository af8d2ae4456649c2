package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
)

// cutReader is a Reader of key through a testenv.CutProxy that drops each of
// its first cuts connections after after bytes; it is closed when the test
// ends.
func cutReader(t *testing.T, bucket, key string, after int64, cuts int32) *objstore.Reader {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.Config(t).S3
	cfg.Endpoint = "http://" + testenv.CutProxy(t, strings.TrimPrefix(cfg.Endpoint, "http://"), after, cuts)
	cut, err := objstore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := objstore.NewReader(ctx, cut, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestReaderResumesAfterConnectionCut(t *testing.T) {
	t.Parallel()
	client, bucket := testenv.S3(t)
	body := make([]byte, 3<<20)
	_, _ = rand.Read(body)
	key := "p/ref/20260101T000000Z.sql.gz"
	put(t, client, bucket, key, body)
	r := cutReader(t, bucket, key, 700_000, 2) // two cuts, each mid-body
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read through cut connections: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes, not the object's %d", len(got), len(body))
	}
	if r.Resumed < 2 {
		t.Fatalf("resumed %d times, want at least 2 (the proxy cut twice)", r.Resumed)
	}
}

func TestReaderRefusesAReplacedObject(t *testing.T) {
	t.Parallel()
	client, bucket := testenv.S3(t)
	key := "p/ref/x.sql.gz"
	put(t, client, bucket, key, bytes.Repeat([]byte("a"), 2<<20))
	r := cutReader(t, bucket, key, 500_000, 1)
	buf := make([]byte, 100_000)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	put(t, client, bucket, key, bytes.Repeat([]byte("b"), 2<<20)) // replaced while we read
	rest, err := io.ReadAll(r)
	if err == nil {
		t.Fatalf("spliced a replaced object: read %d more bytes without error", len(rest))
	}
	if bytes.Contains(rest, []byte("b")) {
		t.Fatal("bytes of the new object were delivered")
	}
}
