package seekgz

// A huffman table decodes one canonical Huffman code of RFC 1951 with two
// levels of lookup: the low pbits bits of the bit buffer index primary; a
// longer code's prefix points to a subtable indexed by the next bits.
//
// An entry is sym<<8 | n for a code of n bits (1..15), off<<8 | linkFlag | sb for
// a link to the subtable at sub[off:] indexed by sb more bits, and 0 for a bit
// pattern no code starts with.
type huffman struct {
	pbits   uint
	primary []uint32
	sub     []uint32
	empty   bool // no codes at all: any lookup is corrupt input
}

const (
	linkFlag   = 0x80
	maxCodeLen = 15
)

// reverse returns the n low bits of c in reverse order.
func reverse(c uint32, n uint) uint32 {
	var r uint32
	for i := uint(0); i < n; i++ {
		r = r<<1 | c&1
		c >>= 1
	}
	return r
}

// init builds h for code lengths (0 = symbol unused). It reports false for an
// over-subscribed or incomplete code, except the degenerate code of one symbol of
// length 1 that zlib writes and compress/flate accepts; a code with no symbols is
// accepted and fails on first use, as in compress/flate.
func (h *huffman) init(lengths []uint8, pbits uint) bool {
	var count [maxCodeLen + 1]int
	maxLen := 0
	for _, n := range lengths {
		if n != 0 {
			count[n]++
			maxLen = max(maxLen, int(n))
		}
	}
	h.pbits = pbits
	if cap(h.primary) < 1<<pbits {
		h.primary = make([]uint32, 1<<pbits)
	}
	h.primary = h.primary[:1<<pbits]
	clear(h.primary)
	h.sub = h.sub[:0]
	h.empty = maxLen == 0
	if h.empty {
		return true
	}
	code := 0
	var next [maxCodeLen + 2]int
	for i := 1; i <= maxLen; i++ {
		code = (code + count[i-1]) << 1
		next[i] = code
	}
	code += count[maxLen]
	total := 0
	for _, c := range count {
		total += c
	}
	if code != 1<<maxLen && !(total == 1 && maxLen == 1) {
		return false
	}
	// Codes longer than pbits: size each subtable by the longest code of its prefix.
	var revs [320]uint32
	var subBits [1 << 11]uint8 // pbits <= 11
	for s, n := range lengths {
		if n == 0 {
			continue
		}
		r := reverse(uint32(next[n]), uint(n))
		next[n]++
		revs[s] = r
		if uint(n) > pbits {
			p := r & (1<<pbits - 1)
			subBits[p] = max(subBits[p], n-uint8(pbits))
		}
	}
	mask := uint32(1<<pbits - 1)
	for p := uint32(0); p <= mask; p++ {
		if sb := subBits[p]; sb > 0 {
			off := len(h.sub)
			h.sub = append(h.sub, make([]uint32, 1<<sb)...)
			h.primary[p] = uint32(off)<<8 | linkFlag | uint32(sb)
		}
	}
	for s, n := range lengths {
		if n == 0 {
			continue
		}
		r, e := revs[s], uint32(s)<<8|uint32(n)
		if uint(n) <= pbits {
			for i := r; i <= mask; i += 1 << n {
				h.primary[i] = e
			}
			continue
		}
		link := h.primary[r&mask]
		off, sb := link>>8, uint(link&15)
		rest := r >> pbits
		step := uint32(1) << (uint(n) - pbits)
		for i := rest; i < 1<<sb; i += step {
			h.sub[off+i] = e
		}
	}
	return true
}
