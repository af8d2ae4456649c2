package seekgz

import (
	"slices"
	"testing"
)

// FuzzSplit: for any spans (sorted, as an index holds them, or not, as a
// forged one might) the main ranges and the parts cover [0, Length) exactly
// once in order, every part is a span of at least minPart bytes, no range is
// empty, and Largest is a permutation of the parts, largest first.
func FuzzSplit(f *testing.F) {
	f.Add([]byte{10, 20, 5, 40, 0, 3}, uint16(8), uint32(100))
	f.Add([]byte{0, 50, 0, 50, 1, 1}, uint16(1), uint32(200))
	f.Add([]byte{}, uint16(4), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, minPart uint16, length uint32) {
		idx := &Index{Length: int64(length)}
		pos := int64(0)
		for len(data) >= 2 {
			gap, n := int64(data[0]), int64(data[1])
			data = data[2:]
			if gap == 255 { // an overlapping (forged) span
				pos = max(0, pos-n)
				gap = 0
			}
			idx.Spans = append(idx.Spans, Span{Name: "t", Start: pos + gap, End: pos + gap + n})
			pos += gap + n
		}
		mp := max(int64(minPart), 1)
		main, parts := idx.Split(mp)
		type piece struct {
			Range
			part bool
		}
		var all []piece
		for _, r := range main {
			all = append(all, piece{r, false})
		}
		for _, p := range parts {
			if p.End-p.Start < mp {
				t.Fatalf("part %+v shorter than %d", p, mp)
			}
			if !slices.Contains(idx.Spans, p) {
				t.Fatalf("part %+v is not a span", p)
			}
			all = append(all, piece{Range{p.Start, p.End}, true})
		}
		slices.SortFunc(all, func(a, b piece) int { return int(a.Start - b.Start) })
		at := int64(0)
		for i, p := range all {
			if p.Start != at || p.End <= p.Start {
				t.Fatalf("piece %d %+v: want it to start at %d and not be empty (main %v, parts %v)", i, p, at, main, parts)
			}
			if i > 0 && !p.part && !all[i-1].part {
				t.Fatalf("two main ranges touch at %d", p.Start)
			}
			at = p.End
		}
		if at != idx.Length && !(len(all) == 0 && idx.Length == 0) {
			t.Fatalf("pieces end at %d, dump at %d", at, idx.Length)
		}
		big := Largest(parts)
		if len(big) != len(parts) {
			t.Fatal("Largest lost parts")
		}
		for i := range big {
			if !slices.Contains(parts, big[i]) || i > 0 && big[i].End-big[i].Start > big[i-1].End-big[i-1].Start {
				t.Fatalf("Largest: %v", big)
			}
		}
	})
}
