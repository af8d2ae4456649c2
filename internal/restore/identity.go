package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/restoreportal/portal/internal/extract"
)

// ErrExtension is wrapped by Apply's error when a dump's extension entry
// cannot be run: outside Options.ExtensionsAllowed, or not the plain
// `CREATE EXTENSION IF NOT EXISTS name [WITH SCHEMA schema];` pg_dump writes.
var ErrExtension = errors.New("extension refused")

// Extension is a CREATE EXTENSION entry of a dump, parsed.
type Extension struct {
	Name   string
	Schema string // empty: the default
}

const identRE = `([a-z_][a-z0-9_$]*|"(?:[^"]|"")+")`

var createExtension = regexp.MustCompile(`(?is)^CREATE\s+EXTENSION\s+IF\s+NOT\s+EXISTS\s+` + identRE + `(?:\s+WITH\s+SCHEMA\s+` + identRE + `)?\s*;?\s*$`)

func unquoteIdent(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return s
}

// ParseExtension parses the statement of an EXTENSION entry. Anything but the
// plain form pg_dump writes (no VERSION, no CASCADE) is refused.
func ParseExtension(sql string) (Extension, error) {
	m := createExtension.FindStringSubmatch(strings.TrimSpace(sql))
	if m == nil {
		return Extension{}, fmt.Errorf("%w: %q is not `CREATE EXTENSION IF NOT EXISTS name [WITH SCHEMA schema];`", ErrExtension, firstLine(sql))
	}
	return Extension{Name: unquoteIdent(m[1]), Schema: unquoteIdent(m[2])}, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Extensions reads the pre-data of a dump (it stops at the first data entry)
// and returns the extensions its EXTENSION entries create. A restore calls it
// before changing anything, so a dump needing an extension outside the
// allowlist fails with nothing done.
func Extensions(dump io.Reader) ([]Extension, error) {
	rd := extract.NewReader(dump)
	var out []Extension
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if e.Kind == extract.KindCopy || (e.Kind == extract.KindStatement && e.Phase != extract.PreData) {
			return out, nil
		}
		if e.Kind == extract.KindStatement && e.Type == "EXTENSION" {
			x, err := ParseExtension(e.SQL)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", e.Line, err)
			}
			out = append(out, x)
		}
	}
}

func allowed(name string, list []string) bool {
	for _, a := range list {
		if a == name {
			return true
		}
	}
	return false
}

// extension runs an EXTENSION entry when the dump runs as Options.Role: the
// extension is created by Options.CreateExtension (the admin connection),
// never by the dump's own statement.
func (a *applier) extension(ctx context.Context, e *extract.Entry) error {
	x, err := ParseExtension(e.SQL)
	if err != nil {
		return entryError(e, err)
	}
	if !allowed(x.Name, a.opts.ExtensionsAllowed) {
		return entryError(e, fmt.Errorf("%w: %s is not in the allowlist (%s)", ErrExtension, x.Name, strings.Join(a.opts.ExtensionsAllowed, ", ")))
	}
	if a.opts.CreateExtension == nil {
		return entryError(e, fmt.Errorf("%w: %s: no admin connection to create it with", ErrExtension, x.Name))
	}
	if err := a.opts.CreateExtension(ctx, x); err != nil {
		return entryError(e, err)
	}
	return nil
}

// isExtensionComment reports `COMMENT ON EXTENSION ...`, which only the
// extension's owner (the admin) may run; the dump's role skips it.
func isExtensionComment(e *extract.Entry) bool {
	if e.Type != "COMMENT" {
		return false
	}
	f := strings.Fields(strings.ToUpper(e.SQL[:min(len(e.SQL), 40)]))
	return len(f) >= 3 && f[0] == "COMMENT" && f[1] == "ON" && f[2] == "EXTENSION"
}

// setRole makes every connection act as role before it runs anything.
func setRole(cfg *pgx.ConnConfig, role string) {
	sql := "SET ROLE " + pgx.Identifier{role}.Sanitize()
	prev := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgconn.PgConn) error {
		if prev != nil {
			if err := prev(ctx, c); err != nil {
				return err
			}
		}
		if err := c.Exec(ctx, sql).Close(); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
		return nil
	}
}
