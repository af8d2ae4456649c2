// Package pgident holds the schema-qualified Postgres name that the dump reader
// (internal/extract), the snapshot catalog and the portal share, so that the
// portal can name tables without linking the dump reader.
package pgident

import "strings"

// QualifiedName is a schema-qualified object name, unquoted.
type QualifiedName struct {
	Schema string
	Name   string
}

// String returns the name in a readable form, schema.name, quoting a part only when
// it would not survive as a bare identifier.
func (q QualifiedName) String() string {
	if q.Schema == "" {
		return QuoteIfNeeded(q.Name)
	}
	return QuoteIfNeeded(q.Schema) + "." + QuoteIfNeeded(q.Name)
}

// Quoted returns the name with both parts always quoted, safe to put into SQL.
func (q QualifiedName) Quoted() string {
	if q.Schema == "" {
		return Quote(q.Name)
	}
	return Quote(q.Schema) + "." + Quote(q.Name)
}

// Quote quotes an identifier for SQL, doubling embedded quotes.
func Quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// QuoteIfNeeded returns s bare when it survives as an unquoted identifier
// (lower case, digits, _ and $), quoted otherwise.
func QuoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '$') {
			continue
		}
		return Quote(s)
	}
	return s
}
