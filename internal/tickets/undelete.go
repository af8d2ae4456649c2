package tickets

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ModeUndelete merges a snapshot into the live tables: only the snapshot's
// rows whose primary key is missing live are inserted; no live row is ever
// updated or deleted. Rows whose key exists live with other content are
// conflicts, counted and sampled, not applied. Tables scope only. It writes
// the live project, so it needs an approval like a destructive restore
// (Ticket.Destructive is true for it); a rollback deletes exactly the rows it
// inserted.
const ModeUndelete Mode = "undelete"

// UndeleteLimit narrows an undelete to some rows of one of its tables: the
// keys listed, or the rows matching a filter built from form fields (never
// SQL). The other tables of the scope are merged whole.
type UndeleteLimit struct {
	// Table is the scope's table the limit applies to ("schema.table"); it
	// may be empty when the scope has one table.
	Table string `json:"table,omitempty"`
	// Keys are primary-key values (a single-column key), as text.
	Keys   []string       `json:"keys,omitempty"`
	Filter UndeleteFilter `json:"filter,omitzero"`
}

// UndeleteFilter is "column operator value". The column is checked against
// the live table by the worker and quoted; the value is bound as a
// parameter, cast to the column's type.
type UndeleteFilter struct {
	Column string `json:"column"`
	Op     string `json:"op"`
	Value  string `json:"value,omitempty"`
}

// UndeleteOps are the filter operators offered, in the form's order, with
// the words people see.
var UndeleteOps = []struct{ Op, Label string }{
	{"eq", "="}, {"ne", "≠"}, {"lt", "<"}, {"le", "≤"}, {"gt", ">"}, {"ge", "≥"},
	{"like", "matches (LIKE, on its text)"}, {"is_null", "is empty (NULL)"}, {"not_null", "is not empty"},
}

// MaxUndeleteKeys bounds the keys listed on one ticket.
const MaxUndeleteKeys = 10000

// UndeleteOpValid says whether op is one of UndeleteOps.
func UndeleteOpValid(op string) bool {
	return slices.ContainsFunc(UndeleteOps, func(o struct{ Op, Label string }) bool { return o.Op == op })
}

// UndeleteOpNeedsValue says whether op compares with a value.
func UndeleteOpNeedsValue(op string) bool { return op != "is_null" && op != "not_null" }

// ParseUndeleteKeys splits a list of keys typed one per line or separated by
// commas, dropping blanks and duplicates.
func ParseUndeleteKeys(s string) []string {
	var out []string
	for _, k := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if k = strings.TrimSpace(k); k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Limits says whether the limit narrows anything (keys or a filter).
func (l UndeleteLimit) Limits() bool { return len(l.Keys) > 0 || l.Filter.Op != "" }

// HasFilter says whether the limit has a filter.
func (l UndeleteLimit) HasFilter() bool { return l.Filter.Op != "" || l.Filter.Column != "" }

// validateUndelete checks the mode's rules: tables scope only, and a limit
// that names one of the scope's tables and a filter from the fixed list.
// It returns the options with the limit normalised (the table filled in).
func validateUndelete(mode Mode, scope Scope, o Options) (Options, error) {
	if mode != ModeUndelete {
		if o.Undelete.Limits() || o.Undelete.HasFilter() {
			return o, &ValidationError{Field: "undelete", Msg: "keys and filters only apply to an undelete"}
		}
		o.Undelete = UndeleteLimit{}
		return o, nil
	}
	if scope.Kind != ScopeTables {
		return o, &ValidationError{Field: "mode", Msg: "undelete merges missing rows into chosen tables: choose the tables scope (a full database cannot be undeleted; use a destructive or new-project restore)"}
	}
	if o.AllowDangling {
		return o, &ValidationError{Field: "allow_dangling", Msg: "an undelete never deletes a row, so it cannot leave dangling references; leave the option off"}
	}
	if !o.Undelete.Limits() && !o.Undelete.HasFilter() {
		o.Undelete = UndeleteLimit{}
		return o, nil
	}
	l := o.Undelete
	l.Table = strings.TrimSpace(l.Table)
	if l.Table != "" && !strings.Contains(l.Table, ".") {
		l.Table = "public." + l.Table
	}
	switch {
	case l.Table == "" && len(scope.Tables) == 1:
		l.Table = scope.Tables[0]
	case l.Table == "":
		return o, &ValidationError{Field: "undelete_table", Msg: "the scope has several tables: name the one the keys or the filter apply to"}
	case !slices.Contains(scope.Tables, l.Table):
		return o, &ValidationError{Field: "undelete_table", Msg: fmt.Sprintf("%s is not one of the scope's tables", l.Table)}
	}
	if len(l.Keys) > 0 && l.HasFilter() {
		return o, &ValidationError{Field: "undelete_keys", Msg: "list keys or set a filter, not both"}
	}
	if len(l.Keys) > MaxUndeleteKeys {
		return o, &ValidationError{Field: "undelete_keys", Msg: fmt.Sprintf("%d keys listed; at most %d (use a filter)", len(l.Keys), MaxUndeleteKeys)}
	}
	for _, k := range l.Keys {
		if !utf8.ValidString(k) || strings.ContainsRune(k, 0) || len(k) > 1000 {
			return o, &ValidationError{Field: "undelete_keys", Msg: "a key is not plain text of at most 1000 bytes"}
		}
	}
	if l.HasFilter() {
		f2 := l.Filter
		f2.Column = strings.TrimSpace(f2.Column)
		if f2.Column == "" || len(f2.Column) > 63 || strings.ContainsRune(f2.Column, 0) || !utf8.ValidString(f2.Column) {
			return o, &ValidationError{Field: "undelete_filter_column", Msg: "name one column of the table (at most 63 bytes)"}
		}
		if !UndeleteOpValid(f2.Op) {
			return o, &ValidationError{Field: "undelete_filter_op", Msg: fmt.Sprintf("%q is not one of the offered operators", f2.Op)}
		}
		if !UndeleteOpNeedsValue(f2.Op) {
			f2.Value = ""
		} else if strings.ContainsRune(f2.Value, 0) || !utf8.ValidString(f2.Value) || len(f2.Value) > 1000 {
			return o, &ValidationError{Field: "undelete_filter_value", Msg: "the value is not plain text of at most 1000 bytes"}
		}
		l.Filter = f2
	}
	o.Undelete = l
	return o, nil
}

// String says what the limit keeps, for the plan's changes and the ticket;
// every field shows, so that any change of the limit is listed.
func (l UndeleteLimit) String() string {
	var parts []string
	if l.Table != "" {
		parts = append(parts, l.Table)
	}
	if len(l.Keys) > 0 {
		parts = append(parts, fmt.Sprintf("%d listed keys (%s)", len(l.Keys), shorten(strings.Join(l.Keys, ", "), 80)))
	}
	if l.HasFilter() {
		w := fmt.Sprintf("rows where %s %s", l.Filter.Column, opLabel(l.Filter.Op))
		if UndeleteOpNeedsValue(l.Filter.Op) || l.Filter.Value != "" {
			w += fmt.Sprintf(" %q", l.Filter.Value)
		}
		parts = append(parts, w)
	}
	return strings.Join(parts, ": ")
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func opLabel(op string) string {
	for _, o := range UndeleteOps {
		if o.Op == op {
			return o.Label
		}
	}
	return op
}

// UndeletePreflight is Preflight's sentence for an undelete.
func UndeletePreflight(t Ticket, what, when string) string {
	s := fmt.Sprintf("In the live project %s, the rows of %s that are in the snapshot of %s and missing live (by primary key) will be "+
		"inserted, in foreign-key order, in one transaction. No live row is updated or deleted: rows whose key exists live with "+
		"other content are reported as conflicts and left as they are.", t.ProjectRef, what, when)
	if l := t.Options.Undelete; l.Limits() {
		s += " Only " + l.String() + "."
	}
	return s + " The inserted keys are recorded; a rollback deletes exactly those rows."
}

// UndeleteTable is the result of an undelete for one table.
type UndeleteTable struct {
	Table           string   `json:"table"`
	KeyColumns      []string `json:"key_columns"`
	Candidates      int64    `json:"candidates"`
	Inserted        int64    `json:"inserted"`
	Conflicts       int64    `json:"conflicts"`
	ConflictSamples []string `json:"conflict_samples,omitempty"`
	Unchanged       int64    `json:"unchanged"`
	// OtherKey are rows missing live by primary key that another unique
	// key refused (a live row holds that value now): not inserted.
	OtherKey int64 `json:"other_key,omitempty"`
}

// RecordUndeleteRollback records, before FinishRollback, what the rollback
// of an undelete deleted (summary), on the ticket and its thread.
func RecordUndeleteRollback(ctx context.Context, db DB, id int64, summary string) (Ticket, error) {
	return recordRollbackSummary(ctx, db, id, "restore.rollback_kept", summary)
}

// undeleteRollbackPreview says what the rollback of an undelete does.
func undeleteRollbackPreview(r *Result) []string {
	var out []string
	for _, u := range r.Undelete {
		out = append(out, fmt.Sprintf("The %d rows the undelete inserted into %s will be deleted, by their recorded keys; no other row is touched.", u.Inserted, u.Table))
	}
	return append(out, "The rollback refuses, naming them, if rows written since the undelete reference those rows; nothing is kept aside, since nothing else changes.")
}
