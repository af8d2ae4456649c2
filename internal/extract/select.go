package extract

// Selection yields the entries needed to recreate chosen tables. Create it with Select.
type Selection struct {
	rd     *Reader
	tables []QualifiedName
	fks    []string
}

// Select wraps rd so that Next yields only the entries needed for tables.
func Select(rd *Reader, tables []QualifiedName) *Selection {
	return &Selection{rd: rd, tables: tables}
}

// Next returns the next selected entry, or io.EOF.
func (s *Selection) Next() (Entry, error) {
	return s.rd.Next()
}

// DroppedForeignKeys names the foreign keys left out because they reference tables
// outside the selection.
func (s *Selection) DroppedForeignKeys() []string { return s.fks }
