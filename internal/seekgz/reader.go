package seekgz

import (
	"compress/gzip"
	"errors"
	"hash/crc32"
	"io"
)

// Boundary is the position of a DEFLATE block header: the place a decoder with
// the preceding window can start from.
type Boundary struct {
	Bit int64 // compressed position in bits from the start of the object
	Out int64 // uncompressed offset of the block's first byte
}

// Reader inflates a gzip file of one or more members, from its start (NewReader,
// which checks every member's CRC-32 and size like compress/gzip) or from a block
// boundary with its window (NewReaderAt, which cannot check the trailer of the
// member it starts in).
type Reader struct {
	f       *inflater
	member  bool // inside a member's deflate stream
	partial bool // started inside the current member: its trailer is not checked
	crc     uint32
	size    uint32
	members int
	err     error

	// OnBlock, if set, is called before every block header with its boundary and
	// the window preceding it (valid only during the call).
	OnBlock func(b Boundary, window []byte)
}

// NewReader reads the gzip file src from its first byte; it fails like
// gzip.NewReader (gzip.ErrHeader, io.EOF for an empty src) when the first header
// is bad.
func NewReader(src io.Reader) (*Reader, error) {
	r := &Reader{f: newInflater()}
	r.f.reset(src, 0, nil, 0)
	r.f.onBlock = r.block
	if err := r.startMember(true); err != nil {
		return nil, err
	}
	return r, nil
}

// NewReaderAt reads from the block boundary b: src's first byte is the one at
// compressed offset b.Bit/8 of the object, window the bytes preceding b.Out.
func NewReaderAt(src io.Reader, b Boundary, window []byte) *Reader {
	r := &Reader{f: newInflater(), member: true, partial: true}
	r.f.reset(src, b.Bit/8, window, b.Out)
	r.f.onBlock = r.block
	if skip := uint(b.Bit % 8); skip > 0 {
		if r.err = r.f.need(skip); r.err == nil {
			r.f.take(skip)
		}
	}
	return r
}

func (r *Reader) block() {
	if r.OnBlock != nil {
		r.OnBlock(Boundary{Bit: r.f.bitPos(), Out: r.f.outPos()}, r.f.window())
	}
}

// Members is the number of gzip members begun so far.
func (r *Reader) Members() int { return r.members }

// Offset is the uncompressed offset of the next byte Read returns.
func (r *Reader) Offset() int64 { return r.f.outBase + int64(r.f.rp) }

// InputOffset is the compressed offset in bytes of the first input byte not yet
// consumed by the decoder (read-ahead from the source not counted).
func (r *Reader) InputOffset() int64 { return (r.f.bitPos() + 7) / 8 }

// startMember reads a gzip header. At the end of the input after a member it
// returns io.EOF.
func (r *Reader) startMember(first bool) error {
	f := r.f
	f.refill()
	if f.nb == 0 {
		if first {
			return io.EOF
		}
		if err := f.inputErr(); err != io.ErrUnexpectedEOF {
			return err
		}
		return io.EOF
	}
	var h [10]byte
	if err := f.readBytes(h[:]); err != nil {
		return err
	}
	if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
		return gzip.ErrHeader
	}
	flg := h[3]
	if flg&4 != 0 { // FEXTRA
		lo, err := f.readByte()
		if err != nil {
			return headerErr(err)
		}
		hi, err := f.readByte()
		if err != nil {
			return headerErr(err)
		}
		for n := int(lo) | int(hi)<<8; n > 0; n-- {
			if _, err := f.readByte(); err != nil {
				return headerErr(err)
			}
		}
	}
	for _, bit := range []byte{8, 16} { // FNAME, FCOMMENT: zero-terminated
		if flg&bit == 0 {
			continue
		}
		for {
			b, err := f.readByte()
			if err != nil {
				return headerErr(err)
			}
			if b == 0 {
				break
			}
		}
	}
	if flg&2 != 0 { // FHCRC
		for range 2 {
			if _, err := f.readByte(); err != nil {
				return headerErr(err)
			}
		}
	}
	r.member, r.partial, r.crc, r.size = true, false, 0, 0
	r.members++
	f.state, f.final = stHeader, false
	f.histStart = f.wp // a member never refers to the one before it
	return nil
}

// readBytes fills p from the input, as a member's header or trailer: an
// input that ends first is io.ErrUnexpectedEOF.
func (f *inflater) readBytes(p []byte) error {
	for i := range p {
		b, err := f.readByte()
		if err != nil {
			return headerErr(err)
		}
		p[i] = b
	}
	return nil
}

func headerErr(err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// endMember reads and checks the trailer of the member that just ended.
func (r *Reader) endMember() error {
	f := r.f
	f.byteAlign()
	var t [8]byte
	if err := f.readBytes(t[:]); err != nil {
		return err
	}
	r.member = false
	if r.partial {
		return nil
	}
	crc := uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16 | uint32(t[3])<<24
	size := uint32(t[4]) | uint32(t[5])<<8 | uint32(t[6])<<16 | uint32(t[7])<<24
	if crc != r.crc || size != r.size {
		return gzip.ErrChecksum
	}
	return nil
}

// Read delivers inflated bytes.
func (r *Reader) Read(p []byte) (int, error) {
	f := r.f
	for f.rp == f.wp {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.step()
	}
	n := copy(p, f.out[f.rp:f.wp])
	if !r.partial {
		r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:n])
		r.size += uint32(n)
	}
	f.rp += n
	return n, nil
}

// step decodes more output or moves to the next member.
func (r *Reader) step() error {
	f := r.f
	if !r.member {
		err := r.startMember(false)
		if errors.Is(err, gzip.ErrHeader) {
			return err // garbage after a member, as compress/gzip reports it
		}
		return err
	}
	if f.state == stEnd {
		return r.endMember()
	}
	if f.wp >= len(f.out)-maxMatch {
		f.slide()
	}
	return f.decode()
}

// Close releases nothing; it is there for io.ReadCloser users.
func (r *Reader) Close() error { return nil }
