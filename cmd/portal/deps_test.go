package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPortalDoesNotLinkTheWorker checks, with go list, that the portal binary
// links none of the restore engine: not internal/jobs (the workers), not
// internal/restore, not the dump reader internal/extract and not
// internal/verify, which reads dumps with it (verification and capture are
// the worker's; the catalog they record into is internal/snapshots).
func TestPortalDoesNotLinkTheWorker(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/restoreportal/portal/"
	imports := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		imports[f[0]] = f[1:]
	}
	if _, ok := imports[mod+"internal/web"]; !ok {
		t.Fatalf("go list shows no internal/web among the portal's dependencies; is this the portal? %d packages", len(imports))
	}
	for _, banned := range []string{"internal/jobs", "internal/restore", "internal/extract", "internal/verify"} {
		if _, ok := imports[mod+banned]; ok {
			t.Errorf("the portal links %s%s (imported by %v)", mod, banned, importersOf(imports, mod+banned))
		}
	}
}

func importersOf(imports map[string][]string, pkg string) []string {
	var by []string
	for p, imps := range imports {
		if slices.Contains(imps, pkg) {
			by = append(by, p)
		}
	}
	slices.Sort(by)
	return by
}
