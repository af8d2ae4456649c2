package seekgz

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Index is the access index of one gzip object: where a decoder can start
// (checkpoints, with their windows), where every block begins (to bound a ranged
// read at its end), and the uncompressed spans of the dump's COPY blocks.
type Index struct {
	ETag        string // the object version it describes
	Size        int64  // compressed bytes
	Length      int64  // uncompressed bytes
	Blocks      []Boundary
	Checkpoints []Checkpoint
	Spans       []Span
}

// Checkpoint is a block boundary with the window that precedes it.
type Checkpoint struct {
	Boundary
	Window []byte
}

// Span is the uncompressed extent of one TABLE DATA entry: from its header
// comment to the start of the next entry.
type Span struct {
	Schema, Name string
	Start, End   int64
}

// ErrBadIndex is wrapped by Unmarshal's errors: the index is unusable and a
// reader falls back to reading the whole object.
var ErrBadIndex = errors.New("seekgz: corrupt access index")

const magic = "SEEKGZ1\n"

// Marshal encodes idx: varints, windows deflated, a CRC-32 at the end.
func (idx *Index) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(magic)
	u := func(v uint64) { b.Write(binary.AppendUvarint(nil, v)) }
	str := func(s string) { u(uint64(len(s))); b.WriteString(s) }
	str(idx.ETag)
	u(uint64(idx.Size))
	u(uint64(idx.Length))
	u(uint64(len(idx.Blocks)))
	var pb, po int64
	for _, bl := range idx.Blocks {
		u(uint64(bl.Bit - pb))
		u(uint64(bl.Out - po))
		pb, po = bl.Bit, bl.Out
	}
	u(uint64(len(idx.Checkpoints)))
	var zw bytes.Buffer
	fw, _ := flate.NewWriter(&zw, flate.BestCompression)
	for _, c := range idx.Checkpoints {
		u(uint64(c.Bit))
		u(uint64(c.Out))
		zw.Reset()
		fw.Reset(&zw)
		if _, err := fw.Write(c.Window); err != nil {
			return nil, err
		}
		if err := fw.Close(); err != nil {
			return nil, err
		}
		u(uint64(len(c.Window)))
		u(uint64(zw.Len()))
		b.Write(zw.Bytes())
	}
	u(uint64(len(idx.Spans)))
	for _, s := range idx.Spans {
		str(s.Schema)
		str(s.Name)
		u(uint64(s.Start))
		u(uint64(s.End - s.Start))
	}
	b.Write(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(b.Bytes())))
	return b.Bytes(), nil
}

// Unmarshal decodes an index Marshal wrote and checks it is self-consistent.
func Unmarshal(data []byte) (*Index, error) {
	if len(data) < len(magic)+4 || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: no header", ErrBadIndex)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadIndex)
	}
	d := decoder{b: body[len(magic):]}
	idx := &Index{ETag: d.str(), Size: d.int(), Length: d.int()}
	n := d.count()
	var pb, po int64
	for i := 0; i < n && d.err == nil; i++ {
		pb += d.int()
		po += d.int()
		idx.Blocks = append(idx.Blocks, Boundary{Bit: pb, Out: po})
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		c := Checkpoint{Boundary: Boundary{Bit: d.int(), Out: d.int()}}
		wlen, zlen := d.int(), d.int()
		z := d.bytes(zlen)
		if d.err != nil || wlen > WindowSize {
			break
		}
		w, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), WindowSize+1))
		if err != nil || int64(len(w)) != wlen {
			d.err = fmt.Errorf("window of checkpoint %d", i)
			break
		}
		c.Window = w
		idx.Checkpoints = append(idx.Checkpoints, c)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		s := Span{Schema: d.str(), Name: d.str(), Start: d.int()}
		s.End = s.Start + d.int()
		idx.Spans = append(idx.Spans, s)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	if d.err == nil {
		d.err = idx.check()
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadIndex, d.err)
	}
	return idx, nil
}

// check verifies the order and bounds Ranges relies on.
func (idx *Index) check() error {
	for i, b := range idx.Blocks {
		if b.Bit < 0 || b.Bit > idx.Size*8 || b.Out > idx.Length || (i > 0 && (b.Bit <= idx.Blocks[i-1].Bit || b.Out < idx.Blocks[i-1].Out)) {
			return fmt.Errorf("block %d out of order or bounds", i)
		}
	}
	for i, c := range idx.Checkpoints {
		if c.Bit < 0 || c.Bit > idx.Size*8 || c.Out > idx.Length || (i > 0 && c.Out < idx.Checkpoints[i-1].Out) {
			return fmt.Errorf("checkpoint %d out of order or bounds", i)
		}
	}
	for i, s := range idx.Spans {
		if s.Start < 0 || s.End < s.Start || s.End > idx.Length || (i > 0 && s.Start < idx.Spans[i-1].End) {
			return fmt.Errorf("span %d out of order or bounds", i)
		}
	}
	return nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("short varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v := d.uint()
	if v > 1<<62 {
		d.err = errors.New("number out of range")
		return 0
	}
	return int64(v)
}

func (d *decoder) count() int {
	v := d.int()
	if v > int64(len(d.b)) { // every element takes at least one byte
		d.err = errors.New("count out of range")
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n int64) []byte {
	if d.err != nil {
		return nil
	}
	if n > int64(len(d.b)) {
		d.err = errors.New("short data")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes(d.int())) }
