package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
)

// cutProxy forwards TCP to target and cuts each of the first `cuts`
// connections after it has sent `after` bytes back to the client.
type cutProxy struct {
	ln     net.Listener
	target string
	after  int64
	cuts   atomic.Int32
	wg     sync.WaitGroup
}

func startCutProxy(t *testing.T, target string, after int64, cuts int32) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, after: after}
	p.cuts.Store(cuts)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer up.Close()
			go io.Copy(up, c) //nolint:errcheck
			if p.cuts.Add(-1) >= 0 {
				io.CopyN(c, up, p.after) //nolint:errcheck
				return // drop both sides mid-response
			}
			io.Copy(c, up) //nolint:errcheck
		}()
	}
}

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
	proxy := startCutProxy(t, target, 700_000, 2) // two cuts, each mid-body
	cfg.Endpoint = "http://" + proxy.ln.Addr().String()
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
	proxy := startCutProxy(t, cfg.Endpoint[len("http://"):], 500_000, 1)
	cfg.Endpoint = "http://" + proxy.ln.Addr().String()
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
