package seekgz

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gz compresses parts as one gzip member each, at level.
func gz(t testing.TB, level int, parts ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts {
		w, err := gzip.NewWriterLevel(&buf, level)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// goldenDumps are real pg_dump output from internal/extract/testdata.
func goldenDumps(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range []string{"full.sql", "schema.sql", "tables.sql"} {
		b, err := os.ReadFile(filepath.Join("..", "extract", "testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

// bigRowDump is a dump-shaped text with one 9 MB COPY row among ordinary rows.
func bigRowDump() []byte {
	var b bytes.Buffer
	b.WriteString("--\n-- PostgreSQL database dump\n--\n\nCOPY public.blobs (id, body) FROM stdin;\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "%d\trow %d %x\n", i, i, rng.Uint64())
	}
	b.WriteString("2001\t")
	row := make([]byte, 9<<20)
	for i := range row {
		row[i] = "abcdefghij0123456789"[rng.IntN(20)]
		if i%1000 < 100 {
			row[i] = 'x' // long runs: matches of 258 and overlapping copies
		}
	}
	b.Write(row)
	b.WriteString("\n\\.\n\n-- PostgreSQL database dump complete\n\n")
	return b.Bytes()
}

type sample struct {
	name  string
	plain []byte
	gz    []byte
}

func samples(t testing.TB) []sample {
	var out []sample
	g := goldenDumps(t)
	for _, n := range []string{"full.sql", "schema.sql", "tables.sql"} {
		for _, lvl := range []int{gzip.NoCompression, gzip.BestSpeed, gzip.DefaultCompression, gzip.BestCompression, gzip.HuffmanOnly} {
			out = append(out, sample{fmt.Sprintf("%s/level%d", n, lvl), g[n], gz(t, lvl, g[n])})
		}
	}
	big := bigRowDump()
	out = append(out, sample{"9MB-row", big, gz(t, gzip.DefaultCompression, big)})
	full := g["full.sql"]
	third := len(full) / 3
	out = append(out, sample{"multi-member", full, gz(t, gzip.DefaultCompression, full[:third], full[third:2*third], nil, full[2*third:])})
	return out
}

func readAllSmall(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4093) // odd-sized reads cross every internal boundary
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestReaderEqualsStdlib(t *testing.T) {
	t.Parallel()
	for _, s := range samples(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewReader(bytes.NewReader(s.gz))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAllSmall(r)
			if err != nil {
				t.Fatal(err)
			}
			want := stdlibGunzip(t, s.gz)
			if !bytes.Equal(got, want) || !bytes.Equal(got, s.plain) {
				t.Fatalf("output differs: %d bytes, stdlib %d", len(got), len(want))
			}
		})
	}
}

type point struct {
	b      Boundary
	window []byte
}

// boundaries reads s from the start and keeps every block boundary and window.
func boundaries(t testing.TB, data []byte) []point {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var pts []point
	r.OnBlock = func(b Boundary, w []byte) { pts = append(pts, point{b, bytes.Clone(w)}) }
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	return pts
}

// TestReaderAtEveryBoundary starts a reader at every block boundary of real dumps
// (at 60 spread over the larger ones; every member of a multi-member file too) and checks it yields exactly the
// bytes a sequential compress/gzip read gives from that offset on.
func TestReaderAtEveryBoundary(t *testing.T) {
	t.Parallel()
	for _, s := range samples(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			want := stdlibGunzip(t, s.gz)
			pts := boundaries(t, s.gz)
			if len(pts) < 2 && len(s.plain) > 100<<10 {
				t.Fatalf("only %d block boundaries", len(pts))
			}
			step := max(1, len(pts)/60) // the big samples: 60 boundaries spread over the file, and the last
			for i, p := range pts {
				if i%step != 0 && i != len(pts)-1 {
					continue
				}
				r := NewReaderAt(bytes.NewReader(s.gz[p.b.Bit/8:]), p.b, p.window)
				got, err := readAllSmall(r)
				if err != nil {
					t.Fatalf("from %+v: %v", p.b, err)
				}
				if !bytes.Equal(got, want[p.b.Out:]) {
					t.Fatalf("from %+v: %d bytes differ from the sequential read's %d", p.b, len(got), len(want)-int(p.b.Out))
				}
			}
		})
	}
}

func TestReaderErrorsLikeStdlib(t *testing.T) {
	t.Parallel()
	full := goldenDumps(t)["full.sql"]
	good := gz(t, gzip.DefaultCompression, full)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-6] ^= 1
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"truncated", good[:len(good)/2], io.ErrUnexpectedEOF},
		{"no trailer", good[:len(good)-4], io.ErrUnexpectedEOF},
		{"bad crc", badCRC, gzip.ErrChecksum},
		{"garbage after", append(bytes.Clone(good), []byte("0123456789abcdef")...), gzip.ErrHeader},
	}
	for _, c := range cases {
		_, stdErr := io.ReadAll(must(gzip.NewReader(bytes.NewReader(c.data))))
		r, err := NewReader(bytes.NewReader(c.data))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(r)
		if !errors.Is(err, c.want) || !errors.Is(stdErr, c.want) {
			t.Errorf("%s: got %v, stdlib %v, want %v", c.name, err, stdErr, c.want)
		}
	}
	if _, err := NewReader(strings.NewReader("not gzip at all")); !errors.Is(err, gzip.ErrHeader) {
		t.Errorf("not gzip: %v", err)
	}
	corrupt := bytes.Clone(good)
	for i := 100; i < 140; i++ {
		corrupt[i] = 0xff
	}
	r, _ := NewReader(bytes.NewReader(corrupt))
	_, err := io.ReadAll(r)
	var ce flate.CorruptInputError
	if !errors.As(err, &ce) && !errors.Is(err, gzip.ErrChecksum) {
		t.Errorf("corrupt deflate data: %v", err)
	}
}

// stdlibGunzip is data gunzipped by compress/gzip, the reference.
func stdlibGunzip(t testing.TB, data []byte) []byte {
	t.Helper()
	want, err := io.ReadAll(must(gzip.NewReader(bytes.NewReader(data))))
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
