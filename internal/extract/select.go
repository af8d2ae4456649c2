package extract

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Selection yields, from a dump, only the entries needed to recreate chosen tables in
// an empty database: every schema and extension (cheap and harmless), the types,
// domains, sequences and functions the tables use, the tables and their partitions,
// defaults, data, sequence values, constraints, indexes, triggers (and the functions
// they call), policies and comments. Foreign keys to tables outside the selection are
// left out and reported by DroppedForeignKeys.
//
// It streams: pre-data statements (small) are buffered until the first data entry,
// where the decision is made; COPY rows are never buffered. Functions needed only by
// triggers or policies are emitted just before the post-data entry that needs them.
type Selection struct {
	rd    *Reader
	want  []QualifiedName
	state int // 0 buffering pre-data, 1 streaming, 2 done

	pre     []Entry // buffered pre-data
	out     []Entry // decided, waiting to be returned
	pending *Entry  // first entry after pre-data, returned after out

	tables  map[QualifiedName]bool // selected tables, partitions included
	defs    map[QualifiedName][]int
	emitted []bool                 // per pre entry
	kept    map[QualifiedName]bool // kept definitions (types, sequences, functions, indexes)
	lastOK  bool                   // whether the previous entry was kept (comments follow it)
	fks     []string
}

// Select wraps rd so that Next yields only the entries needed for tables. Unknown table
// names make the first call to Next fail, before any entry is returned, with the closest
// matches.
func Select(rd *Reader, tables []QualifiedName) *Selection {
	return &Selection{rd: rd, want: tables, tables: map[QualifiedName]bool{}, defs: map[QualifiedName][]int{},
		kept: map[QualifiedName]bool{}}
}

// DroppedForeignKeys names the foreign keys left out because they reference tables
// outside the selection, as "schema.table constraint -> referenced table".
func (s *Selection) DroppedForeignKeys() []string { return s.fks }

// Next returns the next selected entry, or io.EOF.
func (s *Selection) Next() (Entry, error) {
	for {
		if len(s.out) > 0 {
			e := s.out[0]
			s.out = s.out[1:]
			return e, nil
		}
		if s.pending != nil {
			e := *s.pending
			s.pending = nil
			return e, nil
		}
		if s.state == 2 {
			return Entry{}, io.EOF
		}
		e, err := s.rd.Next()
		if err == io.EOF {
			if s.state == 0 {
				if err := s.decide(); err != nil {
					return Entry{}, err
				}
			}
			s.state = 2
			continue
		}
		if err != nil {
			return Entry{}, err
		}
		// Every entry passes the gate, also those the selection leaves out.
		if err := CheckEntry(&e); err != nil {
			return Entry{}, err
		}
		if s.state == 0 {
			if e.Phase == PreData {
				s.pre = append(s.pre, e)
				continue
			}
			if err := s.decide(); err != nil {
				return Entry{}, err
			}
			s.state = 1
		}
		if s.keep(&e) {
			if len(s.out) > 0 {
				s.pending = &e
				continue
			}
			return e, nil
		}
	}
}

func isSetting(sql string) bool {
	u := strings.ToUpper(sql[:min(len(sql), 32)])
	return strings.HasPrefix(u, "SET ") || strings.HasPrefix(u, "SELECT PG_CATALOG.SET_CONFIG(")
}

// defName is the object a pre-data entry defines, from its header.
func defName(e *Entry) (QualifiedName, bool) {
	if e.Type == "" || e.Type == "COMMENT" || e.Type == "SECURITY LABEL" || e.Type == "ACL" {
		return QualifiedName{}, false
	}
	name := e.Name
	if i := strings.IndexByte(name, '('); i >= 0 {
		name = name[:i]
	}
	return QualifiedName{Schema: e.Schema, Name: name}, true
}

var tableTypes = map[string]bool{"TABLE": true, "FOREIGN TABLE": true}

// decide chooses and emits the pre-data entries of the selection: the tables
// (wanted and their partitions), the roots bound to them, the definitions they
// reference, and the comments and sequence ownership that follow those.
func (s *Selection) decide() error {
	all, children := s.scanPreData()
	if err := s.checkWanted(all); err != nil {
		return err
	}
	s.selectTables(children)
	s.emitted = make([]bool, len(s.pre))
	keep := make([]bool, len(s.pre))
	s.keepClosure(keep, s.roots(keep))
	s.keepFollowers(keep)
	for i := range s.pre {
		if keep[i] {
			s.emit(i)
		}
	}
	s.lastOK = true
	return nil
}

// scanPreData lists the tables in the dump and the partitions by parent, and
// records where each name is defined (s.defs).
func (s *Selection) scanPreData() (all []QualifiedName, children map[QualifiedName][]QualifiedName) {
	children = map[QualifiedName][]QualifiedName{}
	for i := range s.pre {
		e := &s.pre[i]
		if tableTypes[e.Type] {
			if q, ok := createTableName(e.SQL); ok {
				all = append(all, q)
			}
		}
		if e.Type == "TABLE ATTACH" {
			if parent, ok := TargetTable(e.SQL); ok {
				if k, ok := findKeyword(e.SQL, 0, "PARTITION"); ok {
					if child, ok := qualifiedAt(e.SQL, k); ok {
						children[parent] = append(children[parent], child)
					}
				}
			}
		}
		if q, ok := defName(e); ok && e.Kind == KindStatement && !isSetting(e.SQL) {
			s.defs[q] = append(s.defs[q], i)
		}
	}
	return all, children
}

// checkWanted refuses a selection naming a table the dump does not have,
// suggesting the closest names.
func (s *Selection) checkWanted(all []QualifiedName) error {
	var unknown []string
	for _, q := range s.want {
		if !slices.Contains(all, q) {
			inv := &InventoryResult{}
			for _, t := range all {
				inv.Tables = append(inv.Tables, TableInfo{Table: t})
			}
			unknown = append(unknown, fmt.Sprintf("unknown table %s (did you mean %s?)", q, strings.Join(inv.closest(q.Schema+"."+q.Name, 3), ", ")))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("select: %s", strings.Join(unknown, "; "))
	}
	return nil
}

// selectTables selects the wanted tables and, of a partitioned one, its
// partitions (s.tables).
func (s *Selection) selectTables(children map[QualifiedName][]QualifiedName) {
	var add func(q QualifiedName)
	add = func(q QualifiedName) {
		if s.tables[q] {
			return
		}
		s.tables[q] = true
		for _, c := range children[q] {
			add(c)
		}
	}
	for _, q := range s.want {
		add(q)
	}
}

// roots keeps settings, schemas, extensions, selected tables and what is
// bound to them, and returns them as the queue of keepClosure.
func (s *Selection) roots(keep []bool) []int {
	var queue []int
	for i := range s.pre {
		e := &s.pre[i]
		root := false
		switch {
		case e.Kind == KindMeta, isSetting(e.SQL), e.Type == "SCHEMA", e.Type == "EXTENSION":
			root = true
		case e.Type == "":
			root = true // not understood: keep, in order
		case tableTypes[e.Type] || strings.HasPrefix(strings.ToUpper(e.SQL), "ALTER TABLE"):
			// The table itself and statements on it: identity columns, defaults,
			// partition attachment, storage and statistics settings.
			if q, ok := TargetTable(e.SQL); ok && s.tables[q] {
				root = true
			}
		}
		if root && !keep[i] {
			keep[i] = true
			queue = append(queue, i)
		}
	}
	return queue
}

// keepClosure keeps the definitions of the names that kept entries
// reference, and theirs, starting from queue.
func (s *Selection) keepClosure(keep []bool, queue []int) {
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, ref := range references(s.pre[i].SQL) {
			for _, j := range s.defs[ref] {
				if s.definition(j) && !keep[j] {
					keep[j] = true
					queue = append(queue, j)
				}
			}
		}
	}
}

// keepFollowers keeps comments and sequence ownership with what they describe.
func (s *Selection) keepFollowers(keep []bool) {
	last := false
	for i := range s.pre {
		e := &s.pre[i]
		switch {
		case e.Type == "COMMENT" || e.Type == "SECURITY LABEL":
			keep[i] = last
			continue
		case e.Type == "SEQUENCE OWNED BY":
			seq, ok1 := alterSequenceName(e.SQL)
			k, ok2 := findKeyword(e.SQL, 0, "BY")
			var owner QualifiedName
			if ok2 {
				// OWNED BY schema.table.column
				sch, j := parseIdent(e.SQL, k)
				tab, _ := parseIdent(e.SQL, j+1)
				owner = QualifiedName{Schema: sch, Name: tab}
			}
			keep[i] = ok1 && ok2 && s.tables[owner] && slices.ContainsFunc(s.defs[seq], func(j int) bool { return keep[j] })
		}
		last = keep[i]
	}
}

func (s *Selection) emit(i int) {
	if s.emitted[i] {
		return
	}
	s.emitted[i] = true
	e := s.pre[i]
	if q, ok := defName(&e); ok {
		s.kept[q] = true
	}
	if e.Type == "SEQUENCE" && strings.HasPrefix(strings.ToUpper(e.SQL), "ALTER TABLE") {
		// Identity sequence: named in the statement.
		if k, ok := findKeyword(e.SQL, 0, "NAME"); ok {
			if q, ok := qualifiedAt(e.SQL, k); ok {
				s.kept[q] = true
			}
		}
	}
	s.out = append(s.out, e)
	// Comments right after it.
	for j := i + 1; j < len(s.pre) && (s.pre[j].Type == "COMMENT" || s.pre[j].Type == "SECURITY LABEL"); j++ {
		if !s.emitted[j] {
			s.emitted[j] = true
			s.out = append(s.out, s.pre[j])
		}
	}
}

// emitDeps emits, before a post-data entry, pre-data definitions (functions, say)
// it references that were not emitted yet, with their own dependencies.
func (s *Selection) emitDeps(sql string) {
	seen := map[int]bool{}
	var visit func(sql string)
	visit = func(sql string) {
		for _, ref := range references(sql) {
			for _, j := range s.defs[ref] {
				if seen[j] || s.emitted[j] || !s.definition(j) || s.pre[j].Type == "SEQUENCE" {
					continue
				}
				seen[j] = true
				visit(s.pre[j].SQL) // its own dependencies first
				s.emit(j)
			}
		}
	}
	visit(sql)
}

// definition reports whether pre-data entry j may be pulled in because something kept
// references it: not tables or views (only selected ones are restored) and not
// statements altering a table outside the selection.
func (s *Selection) definition(j int) bool {
	e := &s.pre[j]
	if tableTypes[e.Type] || e.Type == "VIEW" || e.Type == "MATERIALIZED VIEW" {
		return false
	}
	if strings.HasPrefix(strings.ToUpper(e.SQL), "ALTER TABLE") {
		t, ok := TargetTable(e.SQL)
		return ok && s.tables[t]
	}
	return true
}

func alterSequenceName(sql string) (QualifiedName, bool) {
	i, ok := keyword(sql, 0, "ALTER", "SEQUENCE")
	if !ok {
		return QualifiedName{}, false
	}
	return qualifiedAt(sql, i)
}

// keep decides on an entry after pre-data.
func (s *Selection) keep(e *Entry) bool {
	ok := s.decideEntry(e)
	s.lastOK = ok
	return ok
}

func (s *Selection) decideEntry(e *Entry) bool {
	switch {
	case e.Kind == KindMeta:
		return true
	case e.Kind == KindCopy:
		return s.tables[e.Table]
	case isSetting(e.SQL):
		return true
	case e.Type == "COMMENT" || e.Type == "SECURITY LABEL":
		return s.lastOK
	case e.Type == "SEQUENCE SET":
		i, ok := findKeyword(e.SQL, 0, "setval")
		if !ok {
			return false
		}
		i = skipSpace(e.SQL, i)
		if i >= len(e.SQL) || e.SQL[i] != '(' {
			return false
		}
		lit, ok := stringLiteral(e.SQL, skipSpace(e.SQL, i+1))
		if !ok {
			return false
		}
		q, n := parseQualified(lit, 0)
		return n == len(lit) && s.kept[q]
	case e.Type == "FK CONSTRAINT":
		t, ok1 := TargetTable(e.SQL)
		r, ok2 := ReferencedTable(e.SQL)
		if !ok1 || !s.tables[t] {
			return false
		}
		if ok2 && s.tables[r] {
			return true
		}
		name := e.Name
		if k, ok := findKeyword(e.SQL, 0, "CONSTRAINT"); ok {
			name, _ = parseIdent(e.SQL, k)
		}
		s.fks = append(s.fks, fmt.Sprintf("%s %s -> %s", t, quoteIfNeeded(name), r))
		return false
	case e.Type == "INDEX ATTACH":
		// ALTER INDEX parent ATTACH PARTITION child: both must be kept.
		i, ok := keyword(e.SQL, 0, "ALTER", "INDEX")
		if !ok {
			return false
		}
		parent, ok1 := qualifiedAt(e.SQL, i)
		k, ok2 := findKeyword(e.SQL, i, "PARTITION")
		if !ok1 || !ok2 {
			return false
		}
		child, ok3 := qualifiedAt(e.SQL, k)
		return ok3 && s.kept[parent] && s.kept[child]
	case e.Type == "MATERIALIZED VIEW DATA":
		return false
	}
	t, ok := TargetTable(e.SQL)
	if !ok || !s.tables[t] {
		return false
	}
	switch e.Type {
	case "INDEX":
		if k, ok := findKeyword(e.SQL, 0, "INDEX"); ok {
			if n, _ := parseIdent(e.SQL, k); n != "" {
				s.kept[QualifiedName{Schema: t.Schema, Name: n}] = true
			}
		}
	case "CONSTRAINT":
		if k, ok := findKeyword(e.SQL, 0, "CONSTRAINT"); ok {
			if n, _ := parseIdent(e.SQL, k); n != "" {
				s.kept[QualifiedName{Schema: t.Schema, Name: n}] = true
			}
		}
	}
	if e.Phase == PostData {
		s.emitDeps(e.SQL)
	}
	return true
}

// stringLiteral returns the content of the standard string literal at sql[i:].
func stringLiteral(sql string, i int) (string, bool) {
	if i >= len(sql) || sql[i] != '\'' {
		return "", false
	}
	var b strings.Builder
	for j := i + 1; j < len(sql); j++ {
		if sql[j] == '\'' {
			if j+1 < len(sql) && sql[j+1] == '\'' {
				b.WriteByte('\'')
				j++
				continue
			}
			return b.String(), true
		}
		b.WriteByte(sql[j])
	}
	return "", false
}

// references returns the schema-qualified names in sql, including those inside string
// literals ('s.seq'::regclass) and dollar-quoted bodies. Over-reporting is harmless.
func references(sql string) []QualifiedName {
	var out []QualifiedName
	var scan func(s string, depth int)
	scan = func(s string, depth int) {
		i := 0
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\'':
				lit, ok := stringLiteral(s, i)
				if !ok {
					return
				}
				if depth < 3 {
					scan(lit, depth+1)
				}
				i += len(lit) + 2 + strings.Count(lit, "'")
			case c == '$' && (i == 0 || !isIdentByte(s[i-1])):
				tag := dollarTag([]byte(s[i:]))
				if tag == nil {
					i++
					continue
				}
				end := strings.Index(s[i+len(tag):], string(tag))
				if end < 0 {
					return
				}
				if depth < 3 {
					scan(s[i+len(tag):i+len(tag)+end], depth+1)
				}
				i += 2*len(tag) + end
			case c == '-' && i+1 < len(s) && s[i+1] == '-':
				for i < len(s) && s[i] != '\n' {
					i++
				}
			case c == '"' || isIdentByte(c) && !(c >= '0' && c <= '9'):
				q, j := parseQualified(s, i)
				if j <= i {
					i++
					continue
				}
				if q.Schema != "" {
					out = append(out, q)
				}
				i = j
			default:
				i++
			}
		}
	}
	scan(sql, 0)
	return out
}
