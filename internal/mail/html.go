package mail

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxHTMLDepth bounds the recursion over the HTML tree; text nested deeper
// than this (only seen in hostile input) is dropped.
const maxHTMLDepth = 256

// HTMLToText turns an HTML mail body into readable plain text: paragraphs
// and line breaks are kept, lists become "- item" or "1. item", blockquotes
// become "> " lines (so StripQuoted can remove quoted history), links keep
// their target, and script, style and head are dropped.
func HTMLToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		// html.Parse refuses documents nested deeper than its open-element
		// limit (512): keep their text with the tokenizer, which has none.
		return normalizeText(tokenText(s))
	}
	w := &textWriter{}
	w.node(doc, 0)
	return normalizeText(w.String())
}

// tokenText is the text of s's text tokens, outside script and style, one
// run per line: the fallback for documents html.Parse refuses.
func tokenText(s string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken:
			if name, _ := z.TagName(); string(name) == "script" || string(name) == "style" {
				skip++
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); (string(name) == "script" || string(name) == "style") && skip > 0 {
				skip--
			}
		case html.TextToken:
			if skip == 0 {
				if t := strings.TrimSpace(string(z.Text())); t != "" {
					b.WriteString(t)
					b.WriteByte('\n')
				}
			}
		}
	}
}

type textWriter struct {
	b       strings.Builder
	pending int  // newlines owed before the next text
	space   bool // a space is owed before the next text
	pre     int  // inside <pre>
}

func (w *textWriter) String() string { return w.b.String() }

// br asks for at least n line breaks before the next text: 1 is a line
// break, 2 a paragraph break.
func (w *textWriter) br(n int) {
	if w.b.Len() == 0 {
		return
	}
	w.pending = max(w.pending, n)
	w.space = false
}

// flush writes the owed line breaks, counting those already written (a
// <br> just before a block's end must not double the break).
func (w *textWriter) flush() {
	if w.pending > 0 {
		s := w.b.String()
		have := len(s) - len(strings.TrimRight(s, "\n"))
		if n := w.pending - have; n > 0 {
			w.b.WriteString(strings.Repeat("\n", n))
		}
		w.pending = 0
		w.space = false
	}
}

func (w *textWriter) raw(s string) {
	w.flush()
	if w.space {
		w.b.WriteByte(' ')
		w.space = false
	}
	w.b.WriteString(s)
}

func (w *textWriter) text(s string) {
	if w.pre > 0 {
		w.raw(s)
		return
	}
	fields := strings.Fields(strings.ReplaceAll(s, "\u00a0", " "))
	if len(fields) == 0 {
		if s != "" && w.b.Len() > 0 && w.pending == 0 {
			w.space = true
		}
		return
	}
	lead := isSpace(s[0])
	trail := isSpace(s[len(s)-1])
	if lead && w.pending == 0 && w.b.Len() > 0 {
		w.space = true
	}
	w.raw(strings.Join(fields, " "))
	w.space = trail
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func (w *textWriter) children(n *html.Node, depth int) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c, depth+1)
	}
}

func (w *textWriter) node(n *html.Node, depth int) {
	if depth > maxHTMLDepth {
		return
	}
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return
	case html.DocumentNode:
		w.children(n, depth)
		return
	case html.ElementNode:
	default:
		return
	}

	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Title, atom.Noscript, atom.Template, atom.Svg, atom.Object, atom.Iframe:
		return
	case atom.Br:
		w.flush()
		w.b.WriteByte('\n')
		w.space = false
		return
	case atom.Hr:
		w.br(1)
		w.raw("----")
		w.br(1)
		return
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Table:
		w.br(2)
		w.children(n, depth)
		w.br(2)
		return
	case atom.Pre:
		w.br(2)
		w.pre++
		w.children(n, depth)
		w.pre--
		w.br(2)
		return
	case atom.Ul, atom.Ol:
		w.br(1)
		i := 1
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && c.DataAtom == atom.Li {
				w.br(1)
				if n.DataAtom == atom.Ol {
					w.raw(strconv.Itoa(i) + ". ")
					i++
				} else {
					w.raw("- ")
				}
				w.children(c, depth+1)
				continue
			}
			w.node(c, depth+1)
		}
		w.br(1)
		return
	case atom.Blockquote:
		inner := &textWriter{pre: w.pre}
		inner.children(n, depth)
		w.br(1)
		for _, line := range strings.Split(normalizeText(inner.String()), "\n") {
			w.raw(strings.TrimRight("> "+line, " "))
			w.br(1)
		}
		return
	case atom.Td, atom.Th:
		if w.b.Len() > 0 && w.pending == 0 {
			w.space = true
		}
		w.children(n, depth)
		w.space = true
		return
	case atom.A:
		before := w.b.Len()
		w.children(n, depth)
		href := attr(n, "href")
		if strings.HasPrefix(href, "http://") || strings.HasPrefix(href, "https://") {
			label := strings.TrimSpace(w.b.String()[before:])
			if label != href && strings.TrimSuffix(label, "/") != strings.TrimSuffix(href, "/") {
				w.raw(" <" + href + ">")
			}
		}
		return
	case atom.Img:
		if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
			w.text(" [" + alt + "] ")
		}
		return
	}

	if isBlock(n.DataAtom) {
		w.br(1)
		w.children(n, depth)
		w.br(1)
		return
	}
	w.children(n, depth)
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.Div, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Main, atom.Nav,
		atom.Aside, atom.Address, atom.Li, atom.Dl, atom.Dt, atom.Dd, atom.Tr, atom.Form,
		atom.Fieldset, atom.Figure, atom.Center, atom.Body, atom.Html, atom.Caption, atom.Thead,
		atom.Tbody, atom.Tfoot:
		return true
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
