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
type lexer struct {
	state   int
	estring bool
	depth   int
	tag     []byte
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
			case ';':
				return i + 1, true
			}
			i++
		case stSingle:
			if c == '\\' && lx.estring {
				i += 2
				continue
			}
			if c == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i += 2
					continue
				}
				lx.state = stNormal
			}
			i++
		case stDouble:
			if c == '"' {
				if i+1 < len(line) && line[i+1] == '"' {
					i += 2
					continue
				}
				lx.state = stNormal
			}
			i++
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
