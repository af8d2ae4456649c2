package extract

import "strings"

// TargetTable returns the table a statement acts on, for the statement shapes pg_dump
// writes: ALTER TABLE [ONLY] t ..., CREATE [UNIQUE] INDEX i ON [ONLY] t, CREATE TRIGGER
// ... ON t, CREATE POLICY p ON t, CREATE [UNLOGGED] TABLE t, COPY t. The bool is false
// when the statement has none of these shapes.
func TargetTable(sql string) (QualifiedName, bool) {
	if i, ok := keyword(sql, 0, "ALTER", "TABLE"); ok {
		if j, ok := keyword(sql, i, "IF", "EXISTS"); ok {
			i = j
		}
		if j, ok := keyword(sql, i, "ONLY"); ok {
			i = j
		}
		return qualifiedAt(sql, i)
	}
	if i, ok := keyword(sql, 0, "CREATE"); ok {
		if j, ok := keyword(sql, i, "UNIQUE"); ok {
			i = j
		}
		if j, ok := keyword(sql, i, "INDEX"); ok {
			k, found := findKeyword(sql, j, "ON")
			if !found {
				return QualifiedName{}, false
			}
			if m, ok := keyword(sql, k, "ONLY"); ok {
				k = m
			}
			return qualifiedAt(sql, k)
		}
		if _, ok := keyword(sql, i, "POLICY"); ok {
			return nameAfter(sql, i, "ON")
		}
		if j, ok := keyword(sql, i, "OR", "REPLACE"); ok {
			i = j
		}
		if j, ok := keyword(sql, i, "CONSTRAINT"); ok {
			i = j
		}
		if _, ok := keyword(sql, i, "TRIGGER"); ok {
			return nameAfter(sql, i, "ON")
		}
		return createTableName(sql)
	}
	if i, ok := keyword(sql, 0, "COPY"); ok {
		return qualifiedAt(sql, i)
	}
	return QualifiedName{}, false
}

// ReferencedTable returns the table after REFERENCES in a foreign key definition.
func ReferencedTable(sql string) (QualifiedName, bool) {
	return nameAfter(sql, 0, "REFERENCES")
}

// nameAfter returns the qualified name after the first keyword kw at or
// after sql[i:].
func nameAfter(sql string, i int, kw string) (QualifiedName, bool) {
	k, found := findKeyword(sql, i, kw)
	if !found {
		return QualifiedName{}, false
	}
	return qualifiedAt(sql, k)
}

func qualifiedAt(sql string, i int) (QualifiedName, bool) {
	q, j := parseQualified(sql, i)
	if j == i || q.Name == "" {
		return QualifiedName{}, false
	}
	return q, true
}

// findKeyword finds the bare word w in sql[i:], skipping quoted identifiers, string
// literals and comments, and returns the index after it.
func findKeyword(sql string, i int, w string) (int, bool) {
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(sql) {
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j + 1
		case c == '$':
			if tag := dollarTag([]byte(sql[i:])); tag != nil && (i == 0 || !isIdentByte(sql[i-1])) {
				k := strings.Index(sql[i+len(tag):], string(tag))
				if k < 0 {
					return 0, false
				}
				i += len(tag) + k + len(tag)
			} else {
				i++
			}
		case isIdentByte(c):
			j := i
			for j < len(sql) && isIdentByte(sql[j]) {
				j++
			}
			if strings.EqualFold(sql[i:j], w) {
				return j, true
			}
			i = j
		default:
			i++
		}
	}
	return 0, false
}
