package mail

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var (
	reFull = regexp.MustCompile(`(?i)\b((full|entire|whole|complete)\s+(database|db|project|restore|backup|snapshot|dump)|all\s+(of\s+)?(the\s+)?(tables|data)|everything)\b`)
	// "the users and orders tables", "public.orders table"
	reTablesBefore = regexp.MustCompile(`(?i)((?:[\w."]+\s*(?:,|\band\b|&)\s*)*[\w."]+)\s+tables?\b`)
	// "tables public.orders and auth.users", "table: users"
	reTablesAfter = regexp.MustCompile(`(?i)\btables?\s*:?\s+([\w."]+(?:\s*(?:,|\band\b|&)\s*[\w."]+)*)`)
	reQualified   = regexp.MustCompile(`(?i)\b"?([a-z_][a-z0-9_$]*)"?\."?([a-z_][a-z0-9_$]*)"?`)
	reSchemaHint  = regexp.MustCompile(`(?i)\b(?:in|from|of)\s+(?:the\s+)?"?([a-z_][a-z0-9_]*)"?\s+schema\b`)
	reListSep     = regexp.MustCompile(`(?i)\s*(?:,|\band\b|&)\s*`)
	reIdent       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)
	reNegBefore   = regexp.MustCompile(`(?i)\b(not|n't|no need (for|to)|rather than|instead of|without|except)\s+(\w+\s+){0,3}$`)
)

// defaultSchemas are the schemas every project has; a "schema.table" token
// in one of them is taken for a table even without an inventory.
var defaultSchemas = []string{"public", "auth", "storage", "ai", "extensions"}

// notTables are words caught by the table phrases that are not tables.
var notTables = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`the a an this that these those my our your their his her its same whole entire full
		one two three four five each every any all which what and or of in on from to only just following affected
		other specific some table tables schema database db restore please also single main important
		following both few several many old new live production prod whose with for into by don doesn didn isn can won wouldn shouldn please
		as at is was were be been has had have we i you it they if but so then than last when where there here`) {
		notTables[w] = true
	}
}

// findScope reads what to restore: the full database, or tables, resolved
// against the project's inventory (opts.Tables) when there is one.
func findScope(lines []line, opts UnderstandOptions, problems *[]string) Field[Scope] {
	names, full := findTableMentions(lines, opts, scopeSchemas(opts))
	if len(names) == 0 {
		if full != nil {
			return Field[Scope]{Value: Scope{Full: true}, Source: full.describe(), Confidence: Likely}
		}
		return Field[Scope]{Confidence: Missing}
	}
	tables, conf := resolveMentions(names, opts, problems)
	f := Field[Scope]{Value: Scope{Tables: tables}, Source: names[0].line.describe(), Confidence: conf}
	if full != nil && conf.NeedsAsking() == false {
		// Both "the full database" and tables: ask which.
		f.Confidence = Ambiguous
		f.Candidates = []Scope{{Full: true}, {Tables: tables}}
	}
	return f
}

// scopeSchemas are the schemas a "schema.table" token may name: the default
// ones and those of the inventory.
func scopeSchemas(opts UnderstandOptions) []string {
	schemas := slices.Clone(defaultSchemas)
	for _, t := range opts.Tables {
		if s, _, ok := strings.Cut(t, "."); ok && !slices.Contains(schemas, strings.ToLower(s)) {
			schemas = append(schemas, strings.ToLower(s))
		}
	}
	return schemas
}

// tableMention is a table name as the mail wrote it, and where.
type tableMention struct {
	name string
	line line
}

// findTableMentions reads the table names lines mention, in order, and the
// first line asking for the full database (nil: none, or only negated).
func findTableMentions(lines []line, opts UnderstandOptions, schemas []string) (names []tableMention, full *line) {
	for _, l := range lines {
		text := l.text
		for _, m := range reFull.FindAllStringIndex(text, 5) {
			if !reNegBefore.MatchString(text[:m[0]]) && full == nil {
				full = &l
			}
		}
		// "the users table in the auth schema": qualify bare names.
		hint := ""
		if m := reSchemaHint.FindStringSubmatch(text); m != nil && slices.Contains(schemas, strings.ToLower(m[1])) {
			hint = m[1]
		}
		add := func(list string, after bool) {
			for _, n := range reListSep.Split(list, -1) {
				n = strings.Trim(n, `"'.`+"`")
				if n == "" || notTables[strings.ToLower(n)] || !reIdent.MatchString(n) {
					continue
				}
				// "the table restored as it was": a participle after
				// "table" is prose, unless the inventory has it.
				if after && !strings.ContainsAny(n, "._") && strings.HasSuffix(strings.ToLower(n), "ed") &&
					len(resolveTable(n, opts.Tables)) == 0 {
					continue
				}
				if hint != "" && !strings.Contains(n, ".") {
					n = hint + "." + n
				}
				names = append(names, tableMention{n, l})
			}
		}
		for _, m := range reTablesBefore.FindAllStringSubmatch(text, 10) {
			add(m[1], false)
		}
		for _, m := range reTablesAfter.FindAllStringSubmatch(text, 10) {
			add(m[1], true)
		}
		for _, m := range reQualified.FindAllStringSubmatch(text, 20) {
			if slices.Contains(schemas, strings.ToLower(m[1])) {
				names = append(names, tableMention{m[1] + "." + m[2], l})
			}
		}
	}
	return names, full
}

// resolveMentions resolves each name (once) against the inventory: the
// tables meant, and how sure that is; a name in several schemas or in none
// adds a problem the requester is asked about.
func resolveMentions(names []tableMention, opts UnderstandOptions, problems *[]string) ([]string, Confidence) {
	var tables []string
	conf := Likely
	if len(opts.Tables) > 0 {
		conf = Certain
	}
	seen := map[string]bool{}
	for _, n := range names {
		key := strings.ToLower(n.name)
		if seen[key] {
			continue
		}
		seen[key] = true
		if len(opts.Tables) == 0 {
			tables = append(tables, n.name)
			continue
		}
		matches := resolveTable(n.name, opts.Tables)
		switch {
		case len(matches) == 1:
			if !strings.Contains(n.name, ".") {
				conf = min2(conf, Likely)
			}
			if !slices.Contains(tables, matches[0]) {
				tables = append(tables, matches[0])
			}
		case len(matches) > 1:
			conf = worse(conf, Ambiguous)
			*problems = append(*problems, fmt.Sprintf("There is a table %s in more than one schema: %s. Which one do you mean?", n.name, strings.Join(matches, ", ")))
		default:
			conf = worse(conf, Invalid)
			if c := Closest(n.name, opts.Tables, 3); len(c) > 0 {
				*problems = append(*problems, fmt.Sprintf("There is no table %s in the project; the closest are: %s.", n.name, strings.Join(c, ", ")))
			} else {
				*problems = append(*problems, fmt.Sprintf("There is no table %s in the project.", n.name))
			}
		}
	}
	return tables, conf
}

// worse keeps the more serious of two states: invalid over ambiguous over
// the rest.
func worse(a, b Confidence) Confidence {
	order := func(c Confidence) int {
		switch c {
		case Invalid:
			return 2
		case Ambiguous:
			return 1
		}
		return 0
	}
	if order(b) > order(a) {
		return b
	}
	return a
}

// resolveTable finds name in the inventory: a schema.table exactly, or a
// bare name in every schema that has it. Case is forgiven.
func resolveTable(name string, inventory []string) []string {
	var out []string
	if strings.Contains(name, ".") {
		for _, t := range inventory {
			if strings.EqualFold(t, name) {
				return []string{t}
			}
		}
		return nil
	}
	for _, t := range inventory {
		_, tbl, ok := strings.Cut(t, ".")
		if !ok {
			tbl = t
		}
		if strings.EqualFold(tbl, name) {
			out = append(out, t)
		}
	}
	return out
}
