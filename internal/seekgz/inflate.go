package seekgz

import (
	"compress/flate"
	"encoding/binary"
	"io"
)

// WindowSize is the DEFLATE history: a match reaches at most this far back.
const WindowSize = 32 << 10

const (
	outChunk = 256 << 10 // output decoded between two slides of the history
	maxMatch = 258
	inBufLen = 64 << 10
)

var (
	lenBase   = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra  = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase  = [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	clenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

var fixedLit, fixedDist huffman

func init() {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [32]uint8 // 30 and 31 complete the code; decoding refuses them
	for i := range d {
		d[i] = 5
	}
	if !fixedLit.init(l[:], 9) || !fixedDist.init(d[:], 5) {
		panic("seekgz: fixed Huffman codes")
	}
}

type blockState uint8

const (
	stHeader  blockState = iota // next: a block header
	stStored                    // inside a stored block
	stHuffman                   // inside a compressed block
	stEnd                       // the final block has ended
)

// inflater decodes one raw DEFLATE stream (RFC 1951) from a bit position, with
// a preset history. It is the core of Reader; the gzip framing is done there.
type inflater struct {
	src    io.Reader
	in     []byte
	ip     int   // next unread byte of in
	inBase int64 // compressed offset of in[0]
	srcErr error
	bits   uint64 // bits not yet consumed, the next one lowest
	nb     uint

	out       []byte // history and decoded output
	wp        int    // where the next byte is decoded
	rp        int    // decoded bytes before rp have been delivered
	histStart int    // first valid history byte of out (no match reaches before)
	outBase   int64  // uncompressed offset of out[0]

	state    blockState
	final    bool
	stored   int // bytes left of a stored block
	lit, dst *huffman
	dynLit   huffman
	dynDist  huffman
	clen     huffman
	lengths  [320]uint8
	err      error

	// onBlock, if set, is called before each block header is read.
	onBlock func()
}

func newInflater() *inflater {
	return &inflater{in: make([]byte, 0, inBufLen), out: make([]byte, WindowSize+outChunk+maxMatch)}
}

// reset starts decoding src, whose first byte is at compressed offset inOff,
// skipping skip bits (0..7) of it; history becomes window (its last WindowSize
// bytes), and outOff is the uncompressed offset of the first byte decoded.
func (f *inflater) reset(src io.Reader, inOff int64, window []byte, outOff int64) {
	if len(window) > WindowSize {
		window = window[len(window)-WindowSize:]
	}
	f.src, f.in, f.ip, f.inBase, f.srcErr = src, f.in[:0], 0, inOff, nil
	f.bits, f.nb = 0, 0
	f.wp = copy(f.out, window)
	f.rp, f.histStart, f.outBase = f.wp, 0, outOff-int64(f.wp)
	f.state, f.final, f.err = stHeader, false, nil
}

// bitPos is the compressed position, in bits, of the next unconsumed bit.
func (f *inflater) bitPos() int64 { return (f.inBase+int64(f.ip))*8 - int64(f.nb) }

// outPos is the uncompressed offset of the next byte decoded.
func (f *inflater) outPos() int64 { return f.outBase + int64(f.wp) }

// window returns the up to WindowSize bytes decoded before outPos, valid until
// the next decode.
func (f *inflater) window() []byte { return f.out[max(f.histStart, f.wp-WindowSize):f.wp] }

func (f *inflater) corrupt() error { return flate.CorruptInputError(f.bitPos() / 8) }

// fill reads more input, keeping the unread bytes.
func (f *inflater) fill() bool {
	if f.srcErr != nil {
		return false
	}
	if f.ip > 0 {
		n := copy(f.in[:cap(f.in)], f.in[f.ip:])
		f.inBase += int64(f.ip)
		f.in, f.ip = f.in[:n], 0
	}
	for tries := 0; tries < 100; tries++ {
		n, err := f.src.Read(f.in[len(f.in):cap(f.in)])
		f.in = f.in[:len(f.in)+n]
		if err != nil {
			f.srcErr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	f.srcErr = io.ErrNoProgress
	return false
}

// refill tops the bit buffer up to at least 57 bits while input lasts.
func (f *inflater) refill() {
	for f.nb <= 56 {
		if f.ip+8 <= len(f.in) {
			f.bits |= binary.LittleEndian.Uint64(f.in[f.ip:]) << f.nb
			f.ip += int((63 - f.nb) >> 3)
			f.nb |= 56
			return
		}
		if f.ip < len(f.in) {
			f.bits |= uint64(f.in[f.ip]) << f.nb
			f.ip++
			f.nb += 8
			continue
		}
		if !f.fill() {
			return
		}
	}
}

// need ensures n bits (n <= 32) are buffered, or returns the error that stops
// the stream: a short source is io.ErrUnexpectedEOF.
func (f *inflater) need(n uint) error {
	if f.nb >= n {
		return nil
	}
	f.refill()
	if f.nb >= n {
		return nil
	}
	return f.inputErr()
}

func (f *inflater) inputErr() error {
	if f.srcErr == nil || f.srcErr == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return f.srcErr
}

func (f *inflater) take(n uint) uint32 {
	v := uint32(f.bits & (1<<n - 1))
	f.bits >>= n
	f.nb -= n
	return v
}

// byteAlign drops the bits up to the next byte boundary.
func (f *inflater) byteAlign() { f.take(f.nb & 7) }

// readByte reads one byte of a byte-aligned stream.
func (f *inflater) readByte() (byte, error) {
	if err := f.need(8); err != nil {
		return 0, err
	}
	return byte(f.take(8)), nil
}

// decode decodes blocks until the output area is full, the stream ends or an
// error occurs.
func (f *inflater) decode() error {
	for f.err == nil && f.wp < len(f.out)-maxMatch {
		switch f.state {
		case stHeader:
			if f.onBlock != nil {
				f.onBlock()
			}
			f.err = f.header()
		case stStored:
			f.err = f.storedData()
		case stHuffman:
			f.err = f.huffmanData()
		case stEnd:
			return nil
		}
	}
	return f.err
}

func (f *inflater) header() error {
	if err := f.need(3); err != nil {
		return err
	}
	f.final = f.take(1) == 1
	switch f.take(2) {
	case 0:
		f.byteAlign()
		if err := f.need(32); err != nil {
			return err
		}
		n, nn := f.take(16), f.take(16)
		if n != ^nn&0xffff {
			return f.corrupt()
		}
		f.stored, f.state = int(n), stStored
	case 1:
		f.lit, f.dst, f.state = &fixedLit, &fixedDist, stHuffman
	case 2:
		if err := f.dynamic(); err != nil {
			return err
		}
		f.lit, f.dst, f.state = &f.dynLit, &f.dynDist, stHuffman
	default:
		return f.corrupt()
	}
	return nil
}

func (f *inflater) endBlock() {
	f.state = stHeader
	if f.final {
		f.state = stEnd
	}
}

func (f *inflater) storedData() error {
	for f.stored > 0 {
		room := len(f.out) - f.wp
		if room == 0 {
			return nil
		}
		if f.nb >= 8 { // buffered bits come first
			f.out[f.wp] = byte(f.take(8))
			f.wp++
			f.stored--
			continue
		}
		f.bits = 0 // above nb it held read-ahead of bytes now copied directly
		if f.ip == len(f.in) && !f.fill() {
			return f.inputErr()
		}
		n := copy(f.out[f.wp:f.wp+min(room, f.stored)], f.in[f.ip:])
		f.ip += n
		f.wp += n
		f.stored -= n
	}
	f.endBlock()
	return nil
}

func (f *inflater) dynamic() error {
	if err := f.need(14); err != nil {
		return err
	}
	nlit, ndist, nclen := int(f.take(5))+257, int(f.take(5))+1, int(f.take(4))+4
	if nlit > 286 || ndist > 30 {
		return f.corrupt()
	}
	var cl [19]uint8
	for i := 0; i < nclen; i++ {
		if err := f.need(3); err != nil {
			return err
		}
		cl[clenOrder[i]] = uint8(f.take(3))
	}
	if !f.clen.init(cl[:], 7) || f.clen.empty {
		return f.corrupt()
	}
	l := f.lengths[:nlit+ndist]
	for i := 0; i < len(l); {
		sym, err := f.symbol(&f.clen)
		if err != nil {
			return err
		}
		if sym < 16 {
			l[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return f.corrupt()
			}
			if err := f.need(2); err != nil {
				return err
			}
			rep, val = 3+int(f.take(2)), l[i-1]
		case 17:
			if err := f.need(3); err != nil {
				return err
			}
			rep = 3 + int(f.take(3))
		default:
			if err := f.need(7); err != nil {
				return err
			}
			rep = 11 + int(f.take(7))
		}
		if i+rep > len(l) {
			return f.corrupt()
		}
		for ; rep > 0; rep-- {
			l[i] = val
			i++
		}
	}
	if l[256] == 0 || !f.dynLit.init(l[:nlit], 10) || !f.dynDist.init(l[nlit:], 8) {
		return f.corrupt()
	}
	return nil
}

// symbol decodes one symbol of h, slowly; huffmanData has the fast loop.
func (f *inflater) symbol(h *huffman) (int, error) {
	if f.nb < maxCodeLen {
		f.refill()
	}
	if h.empty {
		return 0, f.corrupt()
	}
	e := h.primary[f.bits&(1<<h.pbits-1)]
	if e&linkFlag != 0 {
		e = h.sub[e>>8+uint32(f.bits>>h.pbits)&(1<<(e&15)-1)]
	}
	n := uint(e & 15)
	if n == 0 {
		return 0, f.corrupt()
	}
	if n > f.nb {
		return 0, f.inputErr()
	}
	f.take(n)
	return int(e >> 8), nil
}

// huffmanData decodes the symbols of a compressed block until its end or until
// the output area is full. The bit buffer and write position live in locals.
func (f *inflater) huffmanData() error {
	lit, dst := f.lit, f.dst
	if lit.empty {
		return f.corrupt()
	}
	lmask, dmask := uint64(1)<<lit.pbits-1, uint64(1)<<dst.pbits-1
	out := f.out
	limit := len(out) - maxMatch
	bits, nb, wp := f.bits, f.nb, f.wp
	in := f.in
	var err error
	for wp < limit {
		if nb < 48 {
			if f.ip+8 <= len(in) {
				bits |= binary.LittleEndian.Uint64(in[f.ip:]) << nb
				f.ip += int((63 - nb) >> 3)
				nb |= 56
			} else {
				f.bits, f.nb = bits, nb
				f.refill()
				bits, nb, in = f.bits, f.nb, f.in
			}
		}
		e := lit.primary[bits&lmask]
		if e&linkFlag != 0 {
			e = lit.sub[e>>8+uint32(bits>>lit.pbits)&(1<<(e&15)-1)]
		}
		n := uint(e & 15)
		if n == 0 || n > nb {
			err = f.badSym(n, bits, nb, wp)
			break
		}
		bits >>= n
		nb -= n
		sym := e >> 8
		if sym < 256 {
			out[wp] = byte(sym)
			wp++
			continue
		}
		if sym == 256 {
			f.bits, f.nb, f.wp = bits, nb, wp
			f.endBlock()
			return nil
		}
		sym -= 257
		if sym >= 29 {
			err = f.badSym(0, bits, nb, wp)
			break
		}
		x := uint(lenExtra[sym])
		if x > nb {
			err = f.badSym(x, bits, nb, wp)
			break
		}
		length := int(lenBase[sym]) + int(bits&(1<<x-1))
		bits >>= x
		nb -= x
		if dst.empty {
			err = f.badSym(0, bits, nb, wp)
			break
		}
		e = dst.primary[bits&dmask]
		if e&linkFlag != 0 {
			e = dst.sub[e>>8+uint32(bits>>dst.pbits)&(1<<(e&15)-1)]
		}
		n = uint(e & 15)
		if n == 0 || n > nb {
			err = f.badSym(n, bits, nb, wp)
			break
		}
		bits >>= n
		nb -= n
		ds := e >> 8
		if ds >= 30 {
			err = f.badSym(0, bits, nb, wp)
			break
		}
		x = uint(distExtra[ds])
		if x > nb {
			err = f.badSym(x, bits, nb, wp)
			break
		}
		dist := int(distBase[ds]) + int(bits&(1<<x-1))
		bits >>= x
		nb -= x
		if dist > wp-f.histStart {
			err = f.badSym(0, bits, nb, wp)
			break
		}
		from := wp - dist
		if dist >= length {
			copy(out[wp:wp+length], out[from:from+length])
			wp += length
			continue
		}
		// Overlapping: the copy repeats the last dist bytes; grow it by doubling.
		end := wp + length
		for wp < end {
			wp += copy(out[wp:end], out[from:wp])
		}
	}
	f.bits, f.nb, f.wp = bits, nb, wp
	return err
}

// badSym says why decoding stopped at a symbol: n bits were needed (0 for an
// invalid code), nb were buffered.
func (f *inflater) badSym(n uint, bits uint64, nb uint, wp int) error {
	f.bits, f.nb, f.wp = bits, nb, wp
	if n > nb && f.ip == len(f.in) && f.srcErr != nil {
		return f.inputErr()
	}
	return f.corrupt()
}

// slide moves the last WindowSize delivered bytes to the front of out, making
// room for more output. Only delivered bytes are dropped.
func (f *inflater) slide() {
	keep := max(f.rp-WindowSize, 0)
	if keep == 0 {
		return
	}
	n := copy(f.out, f.out[keep:f.wp])
	f.outBase += int64(keep)
	f.wp, f.rp = n, f.rp-keep
	f.histStart = max(f.histStart-keep, 0)
}
