package seekgz

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// benchData is dump-shaped text of about 24 MB, gzipped at the default level as
// pg_dump | gzip writes it.
func benchData(b *testing.B) (plain, data []byte) {
	b.Helper()
	var p bytes.Buffer
	g := goldenDumps(b)
	for p.Len() < 24<<20 {
		p.Write(g["full.sql"])
	}
	plain = p.Bytes()
	return plain, gz(b, gzip.DefaultCompression, plain)
}

// BenchmarkInflate compares this decoder with compress/gzip on the same input;
// verification switched to it, so it must not be much slower.
func BenchmarkInflate(b *testing.B) {
	plain, data := benchData(b)
	b.Run("seekgz", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			r, err := NewReader(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			r, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
