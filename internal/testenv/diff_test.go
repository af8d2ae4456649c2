package testenv_test

import (
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/testenv"
)

// TestDiffLines names the first line that differs (also when one text is
// longer) and says when there is none.
func TestDiffLines(t *testing.T) {
	t.Parallel()
	if got := testenv.DiffLines("a\nb\nc", "a\nB\nc"); !strings.HasPrefix(got, "first difference at line 2:") || !strings.Contains(got, "--- want\na\nb\nc") || !strings.Contains(got, "+++ got\na\nB\nc") {
		t.Errorf("changed line: %q", got)
	}
	if got := testenv.DiffLines("a", "a\nextra"); !strings.HasPrefix(got, "first difference at line 2:") {
		t.Errorf("longer text: %q", got)
	}
	if got := testenv.DiffLines("same", "same"); got != "(no line difference)" {
		t.Errorf("equal texts: %q", got)
	}
}
