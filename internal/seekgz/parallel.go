package seekgz

import "slices"

// DefaultMinPart is the least table data span a parallel read gives a reader of
// its own: a smaller one costs a fetch and up to one checkpoint distance of
// inflating for little gain, and stays in the main stream.
const DefaultMinPart = 4 << 20

// Split plans a parallel read of the whole dump: parts are the table data spans
// of at least minPart bytes, each to be read apart (Open with one range); main
// is everything else, in dump order. Together they cover [0, Length) exactly
// once. The completion trailer is always in main (no span covers it).
func (idx *Index) Split(minPart int64) (main []Range, parts []Span) {
	pos := int64(0)
	for _, sp := range idx.Spans {
		if sp.End-sp.Start < minPart || sp.Start < pos || sp.End > idx.Length {
			continue
		}
		if sp.Start > pos {
			main = append(main, Range{pos, sp.Start})
		}
		parts = append(parts, sp)
		pos = sp.End
	}
	if pos < idx.Length {
		main = append(main, Range{pos, idx.Length})
	}
	return main, parts
}

// Largest orders spans largest first (then in dump order): the order a fixed
// number of readers should take parts in to finish together.
func Largest(parts []Span) []Span {
	out := slices.Clone(parts)
	slices.SortStableFunc(out, func(a, b Span) int {
		switch da, db := a.End-a.Start, b.End-b.Start; {
		case da > db:
			return -1
		case da < db:
			return 1
		}
		return 0
	})
	return out
}
