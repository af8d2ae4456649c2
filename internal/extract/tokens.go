package extract

import "strings"

// tokKind is the lexical class of a token the gate looks at.
type tokKind uint8

const (
	tokWord   tokKind = iota + 1 // bare word (keyword or identifier), lower-cased
	tokIdent                     // "quoted identifier", unquoted
	tokString                    // '...', E'...', B'...', X'...', N'...' or $tag$...$tag$
	tokPunct                     // one byte of punctuation or operator
	tokOther                     // number or $1 parameter
)

// token is one lexeme of a statement. Comments and white space are not tokens.
type token struct {
	kind tokKind
	// text is the word lower-cased, the identifier or string value without its quotes
	// (doubled quotes undone), or the punctuation byte.
	text  string
	pos   int // byte offset of the token in the statement
	depth int // parenthesis depth outside the token
	// unicode marks U&'...' and U&"..." (escapes not decoded); backslash marks a
	// string whose value holds a backslash, whose meaning depends on E'' and
	// standard_conforming_strings, so the gate never trusts its value.
	unicode   bool
	backslash bool
	// newlineBefore is true when white space holding a newline separates the token
	// from the previous one: two string literals so separated are one constant.
	newlineBefore bool
}

// tokenize splits sql into tokens the way the server's lexer does, with
// standard_conforming_strings on (pg_dump sets it; the gate refuses turning it off).
// complete is false when sql ends inside a quote, a dollar quote or a block comment.
func tokenize(sql string) (toks []token, complete bool) {
	toks = make([]token, 0, len(sql)/5+4)
	depth := 0
	nl := false
	i := 0
	emit := func(t token) {
		t.depth = depth
		t.newlineBefore = nl
		nl = false
		toks = append(toks, t)
	}
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '\n':
			nl = true
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			k := strings.IndexByte(sql[i:], '\n')
			if k < 0 {
				return toks, true
			}
			i += k
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j, ok := skipBlockComment(sql, i)
			if !ok {
				return toks, false
			}
			i = j
		case c == '\'':
			t, j, ok := lexString(sql, i, false)
			if !ok {
				return toks, false
			}
			emit(t)
			i = j
		case c == '"':
			t, j, ok := lexIdent(sql, i)
			if !ok {
				return toks, false
			}
			emit(t)
			i = j
		case c == '$':
			if tag := dollarTagAt(sql, i); tag != "" {
				k := strings.Index(sql[i+len(tag):], tag)
				if k < 0 {
					return toks, false
				}
				emit(token{kind: tokString, text: sql[i+len(tag) : i+len(tag)+k], pos: i})
				i += len(tag) + k + len(tag)
				continue
			}
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if j > i+1 {
				emit(token{kind: tokOther, text: sql[i:j], pos: i})
			} else {
				emit(token{kind: tokPunct, text: "$", pos: i})
			}
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(sql) && (isIdentByte(sql[j]) && sql[j] != '$' || sql[j] == '.') {
				j++
			}
			emit(token{kind: tokOther, text: sql[i:j], pos: i})
			i = j
		case isIdentByte(c) && c != '$':
			j := i
			for j < len(sql) && isIdentByte(sql[j]) {
				j++
			}
			w := strings.ToLower(sql[i:j])
			switch {
			case j < len(sql) && sql[j] == '\'' && (w == "e" || w == "b" || w == "x" || w == "n"):
				t, k, ok := lexString(sql, j, w == "e")
				if !ok {
					return toks, false
				}
				t.pos = i
				emit(t)
				i = k
			case w == "u" && j+1 < len(sql) && sql[j] == '&' && (sql[j+1] == '\'' || sql[j+1] == '"'):
				var t token
				var k int
				var ok bool
				if sql[j+1] == '\'' {
					t, k, ok = lexString(sql, j+1, false)
				} else {
					t, k, ok = lexIdent(sql, j+1)
				}
				if !ok {
					return toks, false
				}
				t.pos, t.unicode = i, true
				emit(t)
				i = k
			default:
				emit(token{kind: tokWord, text: w, pos: i})
				i = j
			}
		case c == '(':
			emit(token{kind: tokPunct, text: "(", pos: i})
			depth++
			i++
		case c == ')':
			depth = max(depth-1, 0)
			emit(token{kind: tokPunct, text: ")", pos: i})
			i++
		default:
			emit(token{kind: tokPunct, text: sql[i : i+1], pos: i})
			i++
		}
	}
	return toks, true
}

// skipBlockComment returns the index after the (nested) block comment at sql[i:].
func skipBlockComment(sql string, i int) (int, bool) {
	d := 0
	for i < len(sql) {
		switch {
		case sql[i] == '/' && i+1 < len(sql) && sql[i+1] == '*':
			d++
			i += 2
		case sql[i] == '*' && i+1 < len(sql) && sql[i+1] == '/':
			d--
			i += 2
			if d == 0 {
				return i, true
			}
		default:
			i++
		}
	}
	return i, false
}

// lexString reads the string literal whose opening quote is at sql[i]. In an E”
// string a backslash escapes the next byte.
func lexString(sql string, i int, estring bool) (token, int, bool) {
	var b strings.Builder
	t := token{kind: tokString, pos: i}
	j := i + 1
	for j < len(sql) {
		c := sql[j]
		switch {
		case c == '\\':
			t.backslash = true
			if estring {
				if j+1 < len(sql) {
					b.WriteByte(sql[j+1])
				}
				j += 2
				continue
			}
		case c == '\'':
			if j+1 < len(sql) && sql[j+1] == '\'' {
				b.WriteByte('\'')
				j += 2
				continue
			}
			t.text = b.String()
			return t, j + 1, true
		}
		b.WriteByte(c)
		j++
	}
	return t, j, false
}

// lexIdent reads the quoted identifier whose opening quote is at sql[i].
func lexIdent(sql string, i int) (token, int, bool) {
	var b strings.Builder
	j := i + 1
	for j < len(sql) {
		if sql[j] == '"' {
			if j+1 < len(sql) && sql[j+1] == '"' {
				b.WriteByte('"')
				j += 2
				continue
			}
			return token{kind: tokIdent, text: b.String(), pos: i}, j + 1, true
		}
		b.WriteByte(sql[j])
		j++
	}
	return token{}, j, false
}

// dollarTagAt returns the $tag$ opening a dollar quote at sql[i], or "". As in the
// Reader's lexer, a '$' right after an identifier or number byte opens none.
func dollarTagAt(sql string, i int) string {
	if i > 0 && isIdentByte(sql[i-1]) {
		return ""
	}
	for j := i + 1; j < len(sql); j++ {
		c := sql[j]
		if c == '$' {
			return sql[i : j+1]
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80 || j > i+1 && c >= '0' && c <= '9' {
			continue
		}
		return ""
	}
	return ""
}
