package mail

import (
	"cmp"
	"slices"
	"strings"
)

// Closest returns up to n of choices nearest to s by edit distance (case
// insensitive), nearest first; ties keep the order of choices. Choices that
// share a prefix or contain s rank as near. It is what the reply names when
// a ref or a table is unknown.
func Closest(s string, choices []string, n int) []string {
	if n <= 0 || len(choices) == 0 {
		return nil
	}
	s = strings.ToLower(s)
	type scored struct {
		c string
		d int
		i int
	}
	l := make([]scored, 0, len(choices))
	for i, c := range choices {
		lc := strings.ToLower(c)
		d := levenshtein(s, lc)
		// "users" is near "public.users"; "orders" near "orders_archive".
		if _, t, ok := strings.Cut(lc, "."); ok {
			d = min(d, levenshtein(s, t))
		}
		if s != "" && (strings.Contains(lc, s) || strings.Contains(s, lc)) {
			d = min(d, 1+abs(len(lc)-len(s))/4)
		}
		l = append(l, scored{c, d, i})
	}
	slices.SortStableFunc(l, func(a, b scored) int { return cmp.Compare(a.d, b.d) })
	// Do not offer choices that have nothing in common with s.
	limit := max(2, len(s)/3)
	var out []string
	for _, x := range l {
		if len(out) == n || x.d > limit {
			break
		}
		out = append(out, x.c)
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// levenshtein is the edit distance between a and b, over bytes (refs and
// identifiers are ASCII), with the inputs capped so that a hostile mail
// cannot make it slow.
func levenshtein(a, b string) int {
	const capLen = 64
	if len(a) > capLen {
		a = a[:capLen]
	}
	if len(b) > capLen {
		b = b[:capLen]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
