package dbx_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/testenv"
)

// sqlStart is how a SQL statement of this code base begins: upper-case
// keywords, as every store file writes them (an error message such as
// "create bucket" does not match).
var sqlStart = regexp.MustCompile(`^\s*(SELECT|INSERT\s+INTO|UPDATE\s+\S+\s+(\S+\s+)?SET|DELETE\s+FROM|WITH\s+\w+\s+AS|CREATE|ALTER|DROP|TRUNCATE|LOCK\s+TABLE|COPY)\b`)

// sqlPackages may hold SQL anywhere, each for its reason.
var sqlPackages = map[string]string{
	"internal/cluster":                "its SQL runs on the project clusters (catalog queries, DDL, role checks): the package is that cluster's store",
	"internal/compare":                "it compares a live table with its restored copy on the project clusters (catalog queries and COPY of both sides), like internal/cluster",
	"internal/restore":                "statements it builds for the restored database, next to the dump statements they accompany",
	"internal/extract":                "it parses and classifies dump statements; its strings are SQL it recognises, not queries",
	"internal/seekgz":                 "it finds COPY headers in dump text to cut a table's data into pieces; its strings are SQL it recognises, not queries",
	"internal/database":               "the migration runner",
	"internal/testenv":                "test databases and roles",
	"internal/tickets/tickettest":     "test fixtures that write tickets as a test needs them",
	"internal/snapshots/snapshottest": "test fixtures: a registered project with data",
	"internal/runbook/runbooktest":    "test fixtures: a registered project with a live database, for the restore sequence's tests",
	"internal/demo":                   "the demo project's own schema and data on a project cluster",
	"internal/jobs":                   "River's own tables and the project lock (watchdog.go and drill_rescue.go hand running jobs of dead workers back, which River's client API cannot do; lock.go, drill.go restoreActive read river_job) and the drill's checks, which run on the scratch database of a project cluster (drill_checks.go)",
}

// nounStores are store files of one table each, named for their noun.
var nounStores = []string{
	"internal/audit/audit.go",         // audit_events: the package is its store
	"internal/tickets/cutovers.go",    // ticket_cutovers
	"internal/tickets/databases.go",   // ticket_databases, ticket_safety_snapshots
	"internal/snapshots/placement.go", // projects' placement columns: ProjectRegister, ProjectSetPlacement
}

// sqlToMove still hold SQL outside a store file. The list only shrinks: a
// file that no longer has SQL must leave it.
var sqlToMove = []string{}

func isStoreFile(rel string) bool {
	base := filepath.Base(rel)
	return base == "store.go" || strings.HasSuffix(base, "_store.go") || slices.Contains(nounStores, rel)
}

// TestSQLOnlyInStoreFiles fails listing every SQL string literal outside a
// store file (store.go, *_store.go, or a nounStores file) of the portal's
// own code, apart from sqlPackages and the shrinking sqlToMove list.
func TestSQLOnlyInStoreFiles(t *testing.T) {
	t.Parallel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]string{} // file -> positions of SQL strings
	for _, dir := range []string{"cmd", "internal", "web"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && sqlStart.MatchString(s) {
						found[rel] = append(found[rel], fset.Position(lit.Pos()).String())
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(found["internal/auth/store.go"]) == 0 || len(found["internal/tickets/store.go"]) == 0 {
		t.Fatalf("the scan found no SQL in the store files themselves; is sqlStart wrong? found: %v", found)
	}
	for rel, pos := range found {
		if isStoreFile(rel) || slices.Contains(sqlToMove, rel) {
			continue
		}
		if _, ok := sqlPackages[filepath.ToSlash(filepath.Dir(rel))]; ok {
			continue
		}
		t.Errorf("SQL outside a store file, move it into the package's store.go or a <noun>_store.go:\n\t%s",
			strings.Join(pos, "\n\t"))
	}
	for _, rel := range sqlToMove {
		if len(found[rel]) == 0 {
			t.Errorf("%s holds no SQL any more: take it off sqlToMove", rel)
		}
	}
}
