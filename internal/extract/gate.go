package extract

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRefused is wrapped by the error CheckEntry returns for a statement the gate
// refuses.
var ErrRefused = errors.New("statement refused")

// RefusedError names a refused statement: the dump line where it starts and what was
// refused ("ALTER SYSTEM", "COPY ... PROGRAM").
type RefusedError struct {
	Line int
	What string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused statement at line %d: %s", e.Line, e.What)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Refusal is what ClassifyStatement refused in a statement text.
type Refusal struct {
	// What names the refused construct, e.g. "ALTER SYSTEM", "CREATE ROLE",
	// "COPY ... PROGRAM", "set_config('role')".
	What string
	// Offset is the byte offset in the text where the refused statement starts (the
	// text may hold several statements).
	Offset int
}

// ClassifyStatement is the statement gate: it returns nil when sql may run as part of a
// restore, else what it refuses. sql may hold several statements separated by ';'; each
// is judged. The gate tokenises like the server (comments, nested block comments,
// quoted identifiers, standard and E” strings, dollar quotes), so comments before or
// inside a statement, odd case and line breaks change nothing, and a quoted identifier
// or string that reads "program" is not the keyword.
//
// It refuses: COPY other than FROM stdin / TO stdout (so COPY ... PROGRAM and COPY
// with a server file), ALTER SYSTEM, role DDL (CREATE/ALTER/DROP ROLE, USER, GROUP;
// DROP/REASSIGN OWNED; GRANT and REVOKE of role membership, that is without ON),
// database and tablespace DDL, SET ROLE, SET SESSION AUTHORIZATION (also through a
// function's SET clause), RESET ROLE / SESSION AUTHORIZATION / ALL, DISCARD ALL, LOAD,
// set_config of role or session_authorization or of a name that is not a plain string
// literal, turning standard_conforming_strings off (the gate lexes strings as pg_dump
// writes them), Unicode-escaped U&” / U&"" tokens (pg_dump never writes them; they
// could spell a refused name), and text that ends inside a quote or comment.
//
// What the gate cannot see: dollar-quoted text is data to it. A function body or a DO
// block is $$...$$, and whatever it runs (EXECUTE of a built string, say) is decided
// when it runs, not here. The gate is the second line of defence; the first is that
// every statement of a dump runs as the project's owner role, which is no superuser and
// owns nothing but the target database.
func ClassifyStatement(sql string) *Refusal {
	toks, complete := tokenize(sql)
	start := 0
	var body bodyTracker // the ';' of a BEGIN ATOMIC body do not end its statement
	inBody := false      // whether the piece starting at start is inside such a body
	for i := 0; i <= len(toks); i++ {
		if i < len(toks) && !(toks[i].kind == tokPunct && toks[i].text == ";") {
			body.token(toks[i])
			continue
		}
		if i > start {
			if what := classify(toks[start:i], inBody); what != "" {
				return &Refusal{What: what, Offset: toks[start].pos}
			}
		}
		start = i + 1
		inBody = body.depth > 0
		if !inBody {
			body = bodyTracker{}
		}
	}
	if !complete {
		off := 0
		if len(toks) > 0 {
			off = toks[len(toks)-1].pos
		}
		return &Refusal{What: "text ending inside a quote, dollar quote or comment", Offset: off}
	}
	return nil
}

// CheckEntry applies the gate to one dump entry: a statement (or COPY) the gate
// refuses, and anything but \unrestrict after the "-- PostgreSQL database dump
// complete" trailer, give a *RefusedError naming the line.
func CheckEntry(e *Entry) error {
	if e.AfterTrailer && !(e.Kind == KindMeta && e.Command == "unrestrict") {
		return &RefusedError{Line: e.Line, What: "content after the completion trailer: " + e.FirstLine()}
	}
	if e.Kind == KindMeta {
		return nil
	}
	if e.Kind == KindStatement {
		if toks, _ := tokenize(e.SQL); len(toks) > 0 && toks[0].kind == tokWord && toks[0].text == "copy" {
			// pg_dump writes COPY at the start of a line; the Reader makes that a data
			// block. Anything else (a comment before it, say) is not pg_dump's.
			if r := ClassifyStatement(e.SQL); r != nil {
				return &RefusedError{Line: e.Line + strings.Count(e.SQL[:r.Offset], "\n"), What: r.What}
			}
			return &RefusedError{Line: e.Line, What: "COPY that is not a data block (text before COPY)"}
		}
	}
	if r := ClassifyStatement(e.SQL); r != nil {
		return &RefusedError{Line: e.Line + strings.Count(e.SQL[:r.Offset], "\n"), What: r.What}
	}
	return nil
}

// classify judges one statement's tokens (no ';' among them) and returns what it
// refuses, or "".
func classify(t []token, inBody bool) string {
	if what := classifyVerb(t, inBody); what != "" {
		return what
	}
	for i, tk := range t {
		if tk.unicode {
			return "Unicode-escaped (U&) identifier or string"
		}
		if what := setConfigCall(t, i); what != "" {
			return what
		}
		// A SET clause of CREATE/ALTER FUNCTION (or any SET at top level) naming the role.
		if i > 0 && tk.depth == 0 && tk.kind == tokWord && tk.text == "set" {
			if what := setRole(t[i+1:]); what != "" {
				return what
			}
		}
	}
	return ""
}

// classifyVerb judges a statement by its leading words. inBody is true for the
// statements of a BEGIN ATOMIC body (and its closing END).
func classifyVerb(t []token, inBody bool) string {
	w := func(i int) string {
		if i < len(t) && t[i].kind == tokWord {
			return t[i].text
		}
		return ""
	}
	switch w(0) {
	case "copy":
		return copyTarget(t)
	case "create", "alter", "drop":
		verb := strings.ToUpper(w(0))
		obj := w(1)
		switch obj {
		case "system":
			if verb == "ALTER" {
				return "ALTER SYSTEM"
			}
		case "role", "group", "database", "tablespace":
			return verb + " " + strings.ToUpper(obj)
		case "user":
			if w(2) != "mapping" {
				return verb + " USER"
			}
		case "owned":
			if verb == "DROP" {
				return "DROP OWNED"
			}
		}
	case "reassign":
		return "REASSIGN OWNED"
	case "grant", "revoke":
		if !grantsOnObject(t, w(0)) {
			return strings.ToUpper(w(0)) + " of role membership"
		}
	case "set":
		if what := setRole(t[1:]); what != "" {
			return what
		}
		if what := setConformingStrings(t[1:]); what != "" {
			return what
		}
	case "reset":
		switch name := settingName(t, 1); name {
		case "role":
			return "RESET ROLE"
		case "session authorization", "session_authorization":
			return "RESET SESSION AUTHORIZATION"
		case "all":
			return "RESET ALL"
		case "standard_conforming_strings":
			return "RESET standard_conforming_strings"
		}
	case "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release":
		// pg_dump's plain output has none; the restore manages its transactions (and a
		// ROLLBACK would undo a SET LOCAL it made). END closes a BEGIN ATOMIC body.
		if !(inBody && w(0) == "end") {
			return "transaction control (" + strings.ToUpper(w(0)) + ")"
		}
	case "prepare":
		if w(1) == "transaction" {
			return "transaction control (PREPARE TRANSACTION)"
		}
	case "discard":
		if w(1) == "all" {
			return "DISCARD ALL"
		}
	case "load":
		return "LOAD"
	}
	return ""
}

// settingName returns the configuration parameter named at t[i:] (a word or a quoted
// identifier, lower-cased as the server compares them), or "session authorization".
func settingName(t []token, i int) string {
	if i >= len(t) {
		return ""
	}
	if t[i].kind == tokWord && t[i].text == "session" && i+1 < len(t) && t[i+1].kind == tokWord && t[i+1].text == "authorization" {
		return "session authorization"
	}
	if t[i].kind == tokWord || t[i].kind == tokIdent {
		return strings.ToLower(t[i].text)
	}
	return ""
}

// setRole judges the tokens after SET: [SESSION | LOCAL] ROLE ..., [SESSION | LOCAL]
// SESSION AUTHORIZATION ..., or a generic SET of role or session_authorization.
func setRole(t []token) string {
	i := 0
	if name := settingName(t, 0); name == "session" || name == "local" {
		i = 1
	}
	switch settingName(t, i) {
	case "role":
		return "SET ROLE"
	case "session authorization", "session_authorization", "authorization":
		return "SET SESSION AUTHORIZATION"
	}
	return ""
}

// setConformingStrings refuses SET standard_conforming_strings to anything but on.
func setConformingStrings(t []token) string {
	i := 0
	if name := settingName(t, 0); name == "session" || name == "local" {
		i = 1
	}
	if settingName(t, i) != "standard_conforming_strings" {
		return ""
	}
	i++
	if i < len(t) && (t[i].kind == tokWord && t[i].text == "to" || t[i].kind == tokPunct && t[i].text == "=") {
		i++
	}
	if i == len(t)-1 && (t[i].kind == tokWord || t[i].kind == tokString) && strings.EqualFold(t[i].text, "on") {
		return ""
	}
	return "SET standard_conforming_strings other than on"
}

// setConfigCall refuses a call set_config(name, ...) at t[i] whose name is role,
// session_authorization or standard_conforming_strings, or is not one plain string
// literal (then the gate cannot know it). pg_dump's own
// SELECT pg_catalog.set_config('search_path', ”, false) passes.
func setConfigCall(t []token, i int) string {
	if !(t[i].kind == tokWord || t[i].kind == tokIdent) || !strings.EqualFold(t[i].text, "set_config") {
		return ""
	}
	if i+1 >= len(t) || t[i+1].kind != tokPunct || t[i+1].text != "(" {
		return ""
	}
	if i+3 >= len(t) || t[i+2].kind != tokString || t[i+2].backslash || t[i+3].kind != tokPunct || t[i+3].text != "," {
		return "set_config with a setting name that is not a plain string literal"
	}
	switch name := strings.ToLower(strings.TrimSpace(t[i+2].text)); name {
	case "role", "session_authorization", "standard_conforming_strings":
		return "set_config('" + name + "')"
	}
	return ""
}

// grantsOnObject reports whether a GRANT or REVOKE names objects (ON ... before the
// top-level TO or FROM) rather than roles to become members of.
func grantsOnObject(t []token, verb string) bool {
	end := "to"
	if verb == "revoke" {
		end = "from"
	}
	for _, tk := range t[1:] {
		if tk.depth != 0 || tk.kind != tokWord {
			continue
		}
		switch tk.text {
		case "on":
			return true
		case end:
			return false
		}
	}
	return false
}

// copyTarget allows COPY ... FROM stdin and COPY ... TO stdout only. FROM and TO are
// looked for at the top level (not inside a COPY (query)) and not after a '.', where
// they would be a column or table label.
func copyTarget(t []token) string {
	isDir := func(i int) bool {
		tk := t[i]
		return tk.depth == 0 && tk.kind == tokWord && (tk.text == "from" || tk.text == "to") &&
			!(t[i-1].kind == tokPunct && t[i-1].text == ".")
	}
	for i := 1; i+1 < len(t); i++ {
		if isDir(i) && t[i+1].kind == tokWord && t[i+1].text == "program" {
			return "COPY ... PROGRAM"
		}
	}
	for i := 1; i < len(t); i++ {
		if !isDir(i) {
			continue
		}
		dir, want := "FROM", "stdin"
		if t[i].text == "to" {
			dir, want = "TO", "stdout"
		}
		if i+1 < len(t) {
			switch next := t[i+1]; {
			case next.kind == tokWord && next.text == want:
				return ""
			case next.kind == tokString:
				return "COPY ... " + dir + " a server file"
			}
		}
		return "COPY ... " + dir + " something other than " + want
	}
	return "COPY without FROM stdin"
}

// bodyTracker follows CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END
// over a statement's tokens with psql's heuristic, as the Reader's lexer does, but
// stricter: only BEGIN followed by ATOMIC opens a body, so an END the server would
// take for COMMIT is never excused as the end of one.
type bodyTracker struct {
	words int
	lead  [4]byte
	depth int
	begin bool // the previous word was BEGIN where a body may start
}

func (b *bodyTracker) token(t token) {
	if t.kind != tokWord {
		b.begin = false
		return
	}
	if b.words < len(b.lead) {
		switch t.text {
		case "create", "function", "procedure", "or", "replace":
			b.lead[b.words] = t.text[0]
		}
	}
	b.words++
	wasBegin := b.begin
	b.begin = false
	l := b.lead
	if l[0] != 'c' || t.depth != 0 || !(l[1] == 'f' || l[1] == 'p' || l[1] == 'o' && l[2] == 'r' && (l[3] == 'f' || l[3] == 'p')) {
		return
	}
	switch t.text {
	case "begin":
		b.begin = true
	case "atomic":
		if wasBegin {
			b.depth++
		}
	case "case":
		if b.depth > 0 {
			b.depth++
		}
	case "end":
		if b.depth > 0 {
			b.depth--
		}
	}
}
