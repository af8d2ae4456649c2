package extract

import (
	"strings"

	"github.com/restoreportal/portal/internal/pgident"
)

// QualifiedName is a schema-qualified object name, unquoted (pgident's, so
// that the snapshot catalog names tables without linking this package).
type QualifiedName = pgident.QualifiedName

// QuoteIdent quotes an identifier for SQL, doubling embedded quotes.
func QuoteIdent(s string) string { return pgident.Quote(s) }

func quoteIfNeeded(s string) string { return pgident.QuoteIfNeeded(s) }

// ParseQualifiedName parses "schema.table" as a person would type it: each part may be
// quoted SQL-style ("User Events"); an unquoted part is taken verbatim (not folded), so
// public.User Events also names the table "User Events".
func ParseQualifiedName(s string) (QualifiedName, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `"`) || strings.Contains(s, `."`) {
		if q, n := parseQualified(s, 0); n == len(s) && q.Name != "" {
			return q, true
		}
	}
	schema, name, ok := strings.Cut(s, ".")
	if !ok || schema == "" || name == "" {
		return QualifiedName{}, false
	}
	return QualifiedName{Schema: schema, Name: name}, true
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// parseIdent parses one SQL identifier at s[i:] after optional space. It returns the
// identifier (unquoted, folded to lower case when bare) and the index after it, or
// ("", i) when there is none.
func parseIdent(s string, i int) (string, int) {
	i = skipSpace(s, i)
	if i >= len(s) {
		return "", i
	}
	if s[i] == '"' {
		t, j, ok := lexIdent(s, i)
		if !ok {
			return "", i
		}
		return t.text, j
	}
	j := i
	for j < len(s) && isIdentByte(s[j]) {
		j++
	}
	if j == i {
		return "", i
	}
	return strings.ToLower(s[i:j]), j
}

// parseQualified parses [schema.]name at s[i:].
func parseQualified(s string, i int) (QualifiedName, int) {
	a, j := parseIdent(s, i)
	if a == "" && j == i {
		return QualifiedName{}, i
	}
	if j < len(s) && s[j] == '.' {
		b, k := parseIdent(s, j+1)
		if k == j+1 {
			return QualifiedName{}, i
		}
		return QualifiedName{Schema: a, Name: b}, k
	}
	return QualifiedName{Name: a}, j
}

// keyword reports whether s[i:] (after space) starts with the given keywords,
// case-insensitively, each followed by a non-identifier byte; it returns the index after them.
func keyword(s string, i int, words ...string) (int, bool) {
	for _, w := range words {
		i = skipSpace(s, i)
		if len(s)-i < len(w) || !strings.EqualFold(s[i:i+len(w)], w) {
			return i, false
		}
		i += len(w)
		if i < len(s) && isIdentByte(s[i]) {
			return i, false
		}
	}
	return i, true
}
