package seekgz

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/restoreportal/portal/internal/extract"
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

// BenchmarkVerifyPass is the verification pass before and with the access
// index: compress/gzip and extract.Inventory against this decoder, the index
// builder and extract.InventoryFunc (the goal: at most 10% more time).
func BenchmarkVerifyPass(b *testing.B) {
	_, many := manyTables(b, 40, 20000, 1)
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(many)))
		for b.Loop() {
			r, err := gzip.NewReader(bytes.NewReader(many))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := extract.Inventory(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seekgz-no-index", func(b *testing.B) {
		b.SetBytes(int64(len(many)))
		for b.Loop() {
			r, err := NewReader(bytes.NewReader(many))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := extract.Inventory(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("indexed", func(b *testing.B) {
		b.SetBytes(int64(len(many)))
		for b.Loop() {
			if _, err := indexDump(bytes.NewReader(many), "etag", int64(len(many))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
