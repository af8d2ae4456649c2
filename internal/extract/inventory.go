package extract

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// TableInfo describes one table of a dump.
type TableInfo struct {
	Table QualifiedName
	// Rows and Bytes count the table's COPY data (uncompressed payload bytes).
	Rows  int64
	Bytes int64
	// HasData is false for a table without a COPY block (a partitioned parent, say).
	HasData bool
}

// InventoryResult summarises a dump.
type InventoryResult struct {
	ServerVersion string
	DumpVersion   string
	// Tables in dump order of first appearance (CREATE TABLE or COPY).
	Tables      []TableInfo
	Entries     int
	TrailerSeen bool
}

// Table returns the inventory row for q.
func (inv *InventoryResult) Table(q QualifiedName) (TableInfo, bool) {
	for _, t := range inv.Tables {
		if t.Table == q {
			return t, true
		}
	}
	return TableInfo{}, false
}

// Inventory reads a whole dump and returns its tables, row counts, data sizes and
// versions. It fails on anything Reader.Next fails on (a forbidden meta-command, say)
// and on an entry the statement gate refuses (a *RefusedError, see CheckEntry);
// a missing trailer is reported in TrailerSeen, not as an error.
func Inventory(r io.Reader) (*InventoryResult, error) { return InventoryFunc(r, nil) }

// InventoryFunc is Inventory that also hands each entry, once the statement gate
// has passed it and before its rows are read, to fn (when fn is not nil): the
// access index of a snapshot is built from their offsets in the same pass.
func InventoryFunc(r io.Reader, fn func(*Entry)) (*InventoryResult, error) {
	rd := NewReader(r)
	inv := &InventoryResult{}
	idx := map[QualifiedName]int{}
	add := func(q QualifiedName) int {
		i, ok := idx[q]
		if !ok {
			i = len(inv.Tables)
			idx[q] = i
			inv.Tables = append(inv.Tables, TableInfo{Table: q})
		}
		return i
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := CheckEntry(&e); err != nil {
			return nil, err
		}
		inv.Entries++
		if fn != nil {
			fn(&e)
		}
		switch e.Kind {
		case KindStatement:
			if e.Type == "TABLE" || e.Type == "FOREIGN TABLE" {
				if q, ok := createTableName(e.SQL); ok {
					add(q)
				}
			}
		case KindCopy:
			if err := e.Rows.skip(); err != nil {
				return nil, err
			}
			i := add(e.Table)
			t := &inv.Tables[i]
			t.HasData = true
			t.Rows += e.Rows.Count()
			t.Bytes += e.Rows.Size()
		}
	}
	inv.ServerVersion = rd.ServerVersion()
	inv.DumpVersion = rd.DumpVersion()
	inv.TrailerSeen = rd.TrailerSeen()
	return inv, nil
}

// createTableName parses the table of CREATE [UNLOGGED|FOREIGN] TABLE name.
func createTableName(sql string) (QualifiedName, bool) {
	i, ok := keyword(sql, 0, "CREATE")
	if !ok {
		return QualifiedName{}, false
	}
	for _, w := range []string{"UNLOGGED", "FOREIGN", "TEMPORARY"} {
		if j, ok := keyword(sql, i, w); ok {
			i = j
		}
	}
	i, ok = keyword(sql, i, "TABLE")
	if !ok {
		return QualifiedName{}, false
	}
	q, j := parseQualified(sql, i)
	if j == i || q.Name == "" {
		return QualifiedName{}, false
	}
	return q, true
}

// ResolveTables validates names typed by a person ("schema.table") against the
// inventory. An unknown name is an error listing the closest matches.
func (inv *InventoryResult) ResolveTables(names []string) ([]QualifiedName, error) {
	var out []QualifiedName
	var problems []string
	for _, n := range names {
		q, ok := ParseQualifiedName(n)
		if ok {
			if _, found := inv.Table(q); found {
				if !slices.Contains(out, q) {
					out = append(out, q)
				}
				continue
			}
		}
		problems = append(problems, fmt.Sprintf("unknown table %q (did you mean %s?)", n, strings.Join(inv.closest(n, 3), ", ")))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return out, nil
}

func (inv *InventoryResult) closest(name string, k int) []string {
	type cand struct {
		s string
		d int
	}
	var cs []cand
	for _, t := range inv.Tables {
		s := t.Table.String()
		plain := t.Table.Schema + "." + t.Table.Name
		cs = append(cs, cand{s, min(editDistance(strings.ToLower(name), strings.ToLower(plain)), editDistance(name, s))})
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.d - b.d })
	var out []string
	for i := 0; i < len(cs) && i < k; i++ {
		out = append(out, cs[i].s)
	}
	if len(out) == 0 {
		out = append(out, "no tables in dump")
	}
	return out
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
