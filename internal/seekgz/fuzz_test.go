package seekgz

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"testing"
)

// FuzzInflate feeds arbitrary bytes as a raw DEFLATE stream (inside a gzip
// frame) and as text to compress: whatever compress/flate decodes, this decoder
// decodes to the same bytes, from the start and from every block boundary, and it
// never panics on garbage.
func FuzzInflate(f *testing.F) {
	g := goldenDumps(f)
	for _, lvl := range []int{0, 1, 6, 9, -2} {
		f.Add(g["tables.sql"][:2000], uint8(lvl+2), false)
	}
	f.Add([]byte("\x00\x05\x00\xfa\xffhello\x03\x00"), uint8(0), true)
	f.Add([]byte{0xed, 0xc0, 0x81, 0x00, 0x00, 0x00, 0x00, 0x80, 0xa0, 0xfd, 0xa9, 0x17}, uint8(0), true)
	f.Fuzz(func(t *testing.T, data []byte, level uint8, raw bool) {
		var stream []byte
		if raw {
			stream = data
		} else {
			var buf bytes.Buffer
			w, err := flate.NewWriter(&buf, int(level%12)-2)
			if err != nil {
				return
			}
			w.Write(data)
			w.Close()
			stream = buf.Bytes()
		}
		want, stdErr := io.ReadAll(flate.NewReader(bytes.NewReader(stream)))
		// Frame it as gzip without a valid trailer check: compare the deflate part.
		frame := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, stream...)
		r, err := NewReader(bytes.NewReader(frame))
		if err != nil {
			t.Fatal(err)
		}
		var pts []point
		r.OnBlock = func(b Boundary, w []byte) { pts = append(pts, point{b, bytes.Clone(w)}) }
		got, err := io.ReadAll(r)
		if stdErr != nil {
			return // garbage: only no panic is required
		}
		if !bytes.Equal(got[:min(len(got), len(want))], want) || len(got) < len(want) {
			t.Fatalf("decoded %d bytes (%v), compress/flate %d", len(got), err, len(want))
		}
		if err == nil {
			t.Fatalf("the made-up trailer passed its check")
		}
		for _, p := range pts {
			rr := NewReaderAt(bytes.NewReader(frame[p.b.Bit/8:]), p.b, p.window)
			part, _ := io.ReadAll(rr)
			if len(part) < len(want)-int(p.b.Out) || !bytes.Equal(part[:len(want)-int(p.b.Out)], want[p.b.Out:]) {
				t.Fatalf("from %+v: differs", p.b)
			}
		}
	})
}

var _ = gzip.ErrHeader

// FuzzUnmarshal: any bytes decode to an index that passes its checks, or to an
// ErrBadIndex; never a panic or an endless allocation.
func FuzzUnmarshal(f *testing.F) {
	_, data := manyTables(f, 5, 3000, 2)
	idx := indexOf(f, data, 64<<10, 0)
	enc, err := idx.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrBadIndex) {
				t.Fatalf("error %v does not wrap ErrBadIndex", err)
			}
			return
		}
		if err := idx.check(); err != nil {
			t.Fatalf("accepted an index that fails its checks: %v", err)
		}
		idx.Keep(func(Span) bool { return false }, 0)
	})
}
