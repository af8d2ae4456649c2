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

// benchDecode runs the sub-benchmark name: each round reads data (size plain
// bytes) through open and hands the result to consume.
func benchDecode(b *testing.B, name string, size int, data []byte, open func(io.Reader) (io.Reader, error), consume func(io.Reader) error) {
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(size))
		for b.Loop() {
			r, err := open(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if err := consume(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func openSeekgz(r io.Reader) (io.Reader, error) { return NewReader(r) }
func openStdlib(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

func discard(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func inventory(r io.Reader) error {
	_, err := extract.Inventory(r)
	return err
}

// BenchmarkInflate compares this decoder with compress/gzip on the same input;
// verification switched to it, so it must not be much slower.
func BenchmarkInflate(b *testing.B) {
	plain, data := benchData(b)
	benchDecode(b, "seekgz", len(plain), data, openSeekgz, discard)
	benchDecode(b, "stdlib", len(plain), data, openStdlib, discard)
}

// BenchmarkVerifyPass is the verification pass before and with the access
// index: compress/gzip and extract.Inventory against this decoder, the index
// builder and extract.InventoryFunc (the goal: at most 10% more time).
func BenchmarkVerifyPass(b *testing.B) {
	_, many := manyTables(b, 40, 20000, 1)
	benchDecode(b, "stdlib", len(many), many, openStdlib, inventory)
	benchDecode(b, "seekgz-no-index", len(many), many, openSeekgz, inventory)
	benchDecode(b, "indexed", len(many), many, func(r io.Reader) (io.Reader, error) { return r, nil }, func(r io.Reader) error {
		_, err := indexDump(r, "etag", int64(len(many)))
		return err
	})
}
