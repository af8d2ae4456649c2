package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPortalDoesNotLinkTheWorker checks, with go list, that the portal binary
// links none of the restore engine: not internal/jobs (the workers) and not
// internal/restore. internal/extract still comes in through one importer,
// internal/snapshots, whose verification reads dumps with it; the test fails
// if any other package of the portal brings it in.
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
	for _, banned := range []string{"internal/jobs", "internal/restore"} {
		if _, ok := imports[mod+banned]; ok {
			t.Errorf("the portal links %s%s (imported by %v)", mod, banned, importersOf(imports, mod+banned))
		}
	}
	if by := importersOf(imports, mod+"internal/extract"); len(by) > 0 && !slices.Equal(by, []string{mod + "internal/snapshots"}) {
		t.Errorf("internal/extract reaches the portal through %v; only internal/snapshots (verification) may bring it", by)
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
