package extract

import "bytes"

const (
	stNormal = iota
	stSingle
	stDouble
	stDollar
	stBlock
)

// lexer finds the end of an SQL statement across lines, honouring quoted identifiers,
// standard and E” string literals, dollar quotes and comments (-- and nested /* */).
// Like psql, it does not end a statement at a ';' inside parentheses or inside the
// BEGIN ATOMIC ... END body of CREATE [OR REPLACE] FUNCTION/PROCEDURE (SQL-standard
// bodies, which pg_dump 14 and later write), using psql's heuristic.
type lexer struct {
	state   int
	estring bool
	depth   int
	tag     []byte

	parens     int     // parenthesis depth
	words      int     // bare words seen in the statement
	lead       [4]byte // first letters of the leading create/or/replace/function/procedure words
	beginDepth int     // BEGIN (and CASE inside it) not yet closed by END
}

// word tracks CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ... END as psql's
// lexer does (psqlscan.l), so the semicolons of a BEGIN ATOMIC body stay inside.
func (lx *lexer) word(w []byte) {
	lower := func(s string) bool { return bytes.EqualFold(w, []byte(s)) }
	if lx.words < len(lx.lead) {
		for _, k := range []string{"create", "function", "procedure", "or", "replace"} {
			if lower(k) {
				lx.lead[lx.words] = k[0]
				break
			}
		}
	}
	lx.words++
	l := lx.lead
	if l[0] != 'c' || lx.parens != 0 || !(l[1] == 'f' || l[1] == 'p' || l[1] == 'o' && l[2] == 'r' && (l[3] == 'f' || l[3] == 'p')) {
		return
	}
	switch {
	case lower("begin"):
		lx.beginDepth++
	case lower("case"):
		if lx.beginDepth > 0 {
			lx.beginDepth++
		}
	case lower("end"):
		if lx.beginDepth > 0 {
			lx.beginDepth--
		}
	}
}

// scan consumes one line; it returns the index just after the terminating ';' and true
// when the statement ends in this line.
func (lx *lexer) scan(line []byte) (int, bool) {
	i := 0
	for i < len(line) {
		c := line[i]
		switch lx.state {
		case stNormal:
			switch c {
			case '-':
				if i+1 < len(line) && line[i+1] == '-' {
					return 0, false // comment to end of line
				}
			case '/':
				if i+1 < len(line) && line[i+1] == '*' {
					lx.state, lx.depth = stBlock, 1
					i += 2
					continue
				}
			case '\'':
				lx.state = stSingle
				lx.estring = i > 0 && (line[i-1] == 'E' || line[i-1] == 'e') && (i < 2 || !isIdentByte(line[i-2]))
			case '"':
				lx.state = stDouble
			case '$':
				if i > 0 && isIdentByte(line[i-1]) {
					break
				}
				if tag := dollarTag(line[i:]); tag != nil {
					lx.state = stDollar
					lx.tag = append(lx.tag[:0], tag...)
					i += len(tag)
					continue
				}
			case '(':
				lx.parens++
			case ')':
				lx.parens = max(lx.parens-1, 0)
			case ';':
				if lx.parens == 0 && lx.beginDepth == 0 {
					return i + 1, true
				}
			default:
				if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80) && (i == 0 || !isIdentByte(line[i-1])) {
					j := i + 1
					for j < len(line) && isIdentByte(line[j]) {
						j++
					}
					lx.word(line[i:j])
					i = j
					continue
				}
			}
			i++
		case stSingle:
			if c == '\\' && lx.estring {
				i += 2
				continue
			}
			i = lx.quoted(line, i, '\'')
		case stDouble:
			i = lx.quoted(line, i, '"')
		case stDollar:
			k := bytes.Index(line[i:], lx.tag)
			if k < 0 {
				return 0, false
			}
			i += k + len(lx.tag)
			lx.state = stNormal
		case stBlock:
			if c == '/' && i+1 < len(line) && line[i+1] == '*' {
				lx.depth++
				i += 2
				continue
			}
			if c == '*' && i+1 < len(line) && line[i+1] == '/' {
				lx.depth--
				i += 2
				if lx.depth == 0 {
					lx.state = stNormal
				}
				continue
			}
			i++
		}
	}
	return 0, false
}

// quoted steps over line[i] of a text quoted with q and returns where to
// go on: a doubled q stays inside the text, a lone one ends it.
func (lx *lexer) quoted(line []byte, i int, q byte) int {
	if line[i] == q {
		if i+1 < len(line) && line[i+1] == q {
			return i + 2
		}
		lx.state = stNormal
	}
	return i + 1
}

// dollarTag returns the $tag$ at the start of b, or nil.
func dollarTag(b []byte) []byte {
	for j := 1; j < len(b); j++ {
		c := b[j]
		if c == '$' {
			return b[:j+1]
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80 || j > 1 && c >= '0' && c <= '9' {
			continue
		}
		return nil
	}
	return nil
}
