package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/testenv"
)

// drifted are log keys with a house form: the key on the left is written as
// the one on the right everywhere.
var drifted = map[string]string{
	"ref":      "project_ref",
	"project":  "project_ref",
	"error":    "err",
	"ticket":   "ticket_id",
	"ticketID": "ticket_id",
	"snapshot": "snapshot_id",
	"job":      "job_id",
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestLogKeysConsistent reads every slog call of the portal's code (Debug,
// Info, Warn, Error with a message first, With without) and fails on a key
// that is not snake_case or is a drifted form of a house key.
func TestLogKeysConsistent(t *testing.T) {
	t.Parallel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !isLoggerExpr(sel.X) {
					return true
				}
				first := 1 // after the message
				switch sel.Sel.Name {
				case "Debug", "Info", "Warn", "Error":
				case "With":
					first = 0
				default:
					return true
				}
				calls++
				for i := first; i < len(call.Args); i += 2 {
					lit, ok := call.Args[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						break // attrs built otherwise (slog.Attr, a slice): stop reading pairs
					}
					key, _ := strconv.Unquote(lit.Value)
					if want, ok := drifted[key]; ok {
						t.Errorf("%s: log key %q, write %q", fset.Position(lit.Pos()), key, want)
					} else if !snakeCase.MatchString(key) {
						t.Errorf("%s: log key %q is not snake_case", fset.Position(lit.Pos()), key)
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
	if calls < 50 {
		t.Fatalf("found only %d log calls; is the scan wrong?", calls)
	}
}

// isLoggerExpr says whether x reads like a *slog.Logger: log, Log, logger,
// a field or call ending in one of those (d.Log, d.log(), s.b.log).
func isLoggerExpr(x ast.Expr) bool {
	switch e := x.(type) {
	case *ast.Ident:
		return e.Name == "log" || e.Name == "logger" || e.Name == "slog"
	case *ast.SelectorExpr:
		return e.Sel.Name == "Log" || e.Sel.Name == "log" || e.Sel.Name == "Logger"
	case *ast.CallExpr:
		if sel, ok := e.Fun.(*ast.SelectorExpr); ok {
			return sel.Sel.Name == "log" || sel.Sel.Name == "With" && isLoggerExpr(sel.X)
		}
	}
	return false
}
