package testenv

import (
	"strconv"
	"strings"
)

// DiffLines shows where two texts (dumps, usually) first part, with a few
// lines of context on each side, for failure messages.
func DiffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			lo := max(0, i-3)
			return "first difference at line " + strconv.Itoa(i+1) + ":\n--- want\n" + strings.Join(w[lo:min(len(w), i+5)], "\n") +
				"\n+++ got\n" + strings.Join(g[lo:min(len(g), i+5)], "\n")
		}
	}
	return "(no line difference)"
}
