package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
)

func TestReaderResumesAfterConnectionCut(t *testing.T) {
	t.Parallel()
	client, bucket := testenv.S3(t)
	ctx := context.Background()
	body := make([]byte, 3<<20)
	_, _ = rand.Read(body)
	key := "p/ref/20260101T000000Z.sql.gz"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}

	cfg := testenv.Config(t).S3
	target := cfg.Endpoint[len("http://"):]
	cfg.Endpoint = "http://" + testenv.CutProxy(t, target, 700_000, 2) // two cuts, each mid-body
	cut, err := objstore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := objstore.NewReader(ctx, cut, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
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
	ctx := context.Background()
	key := "p/ref/x.sql.gz"
	put := func(b []byte) {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	first := bytes.Repeat([]byte("a"), 2<<20)
	put(first)
	cfg := testenv.Config(t).S3
	cfg.Endpoint = "http://" + testenv.CutProxy(t, cfg.Endpoint[len("http://"):], 500_000, 1)
	cut, err := objstore.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := objstore.NewReader(ctx, cut, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 100_000)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	put(bytes.Repeat([]byte("b"), 2<<20)) // replaced while we read
	rest, err := io.ReadAll(r)
	if err == nil {
		t.Fatalf("spliced a replaced object: read %d more bytes without error", len(rest))
	}
	if bytes.Contains(rest, []byte("b")) {
		t.Fatal("bytes of the new object were delivered")
	}
}
