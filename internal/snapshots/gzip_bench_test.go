package snapshots

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"

	"github.com/restoreportal/portal/internal/seekgz"
)

// The benchmarks behind scripts/bench-gzip.sh: decompressing a dump (what
// a restore and a verification read do) with the standard library's gzip
// against klauspost/compress/gzip and internal/seekgz, and compressing one (what a capture does)
// with the standard library against klauspost/pgzip's parallel writer.

var benchDump = sync.OnceValues(func() ([]byte, []byte) {
	// A plain dump's shape: a schema, then COPY rows of ids, names, emails,
	// timestamps and a little free text, ~32 MiB.
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString("--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE public.users (id bigint, name text, email text, created_at timestamptz, note text);\n\n")
	b.WriteString("COPY public.users (id, name, email, created_at, note) FROM stdin;\n")
	words := []string{"alpha", "restore", "customer", "order", "pending", "shipped", "refund", "invoice", "north", "south"}
	for i := 0; b.Len() < 32<<20; i++ {
		fmt.Fprintf(&b, "%d\tuser %d %s\tu%d@example.%s\t2026-%02d-%02d %02d:%02d:%02d+00\t%s %s %d\n", i, r.IntN(1e6),
			words[r.IntN(len(words))], r.IntN(1e7), []string{"com", "org", "net"}[r.IntN(3)], 1+r.IntN(12), 1+r.IntN(28),
			r.IntN(24), r.IntN(60), r.IntN(60), words[r.IntN(len(words))], words[r.IntN(len(words))], r.Uint32())
	}
	b.WriteString("\\.\n\n--\n-- PostgreSQL database dump complete\n--\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b.Bytes())
	zw.Close()
	return b.Bytes(), gz.Bytes()
})

func benchRead(b *testing.B, open func(io.Reader) (io.Reader, error)) {
	plain, gz := benchDump()
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		zr, err := open(bytes.NewReader(gz))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, zr)
		if err != nil || n != int64(len(plain)) {
			b.Fatalf("read %d of %d bytes: %v", n, len(plain), err)
		}
	}
}

func BenchmarkGunzipStdlib(b *testing.B) {
	benchRead(b, func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) })
}

func BenchmarkGunzipKlauspost(b *testing.B) {
	benchRead(b, func(r io.Reader) (io.Reader, error) { return kgzip.NewReader(r) })
}

// BenchmarkGunzipSeekgz is the decoder verification reads with
// (internal/seekgz), on the same dump.
func BenchmarkGunzipSeekgz(b *testing.B) {
	benchRead(b, func(r io.Reader) (io.Reader, error) { return seekgz.NewReader(r) })
}

func benchWrite(b *testing.B, newWriter func(io.Writer) io.WriteCloser) {
	plain, _ := benchDump()
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	var size int
	for b.Loop() {
		var out bytes.Buffer
		zw := newWriter(&out)
		if _, err := io.Copy(zw, bytes.NewReader(plain)); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
		size = out.Len()
	}
	b.ReportMetric(float64(size)/float64(len(plain)), "ratio")
}

func BenchmarkGzipStdlib(b *testing.B) {
	benchWrite(b, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
}

func BenchmarkGzipKlauspost(b *testing.B) {
	benchWrite(b, func(w io.Writer) io.WriteCloser { return kgzip.NewWriter(w) })
}

func BenchmarkGzipPgzip(b *testing.B) {
	benchWrite(b, func(w io.Writer) io.WriteCloser { return pgzip.NewWriter(w) })
}

// TestGzipImplementationsAgree checks that each reader reads back what each
// writer wrote, so the benchmarks compare like with like.
func TestGzipImplementationsAgree(t *testing.T) {
	t.Parallel()
	plain := []byte("COPY public.t (id) FROM stdin;\n1\n2\n\\.\n-- PostgreSQL database dump complete\n")
	for wname, w := range map[string]func(io.Writer) io.WriteCloser{
		"stdlib": func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
		"pgzip":  func(w io.Writer) io.WriteCloser { return pgzip.NewWriter(w) },
	} {
		var gz bytes.Buffer
		zw := w(&gz)
		zw.Write(bytes.Repeat(plain, 1000))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		for rname, open := range map[string]func(io.Reader) (io.Reader, error){
			"stdlib":    func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
			"klauspost": func(r io.Reader) (io.Reader, error) { return kgzip.NewReader(r) },
		} {
			zr, err := open(bytes.NewReader(gz.Bytes()))
			if err != nil {
				t.Fatalf("%s reading %s: %v", rname, wname, err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, bytes.Repeat(plain, 1000)) {
				t.Errorf("%s reading %s: %d bytes, %v", rname, wname, len(got), err)
			}
		}
	}
}
