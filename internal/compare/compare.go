// Package compare compares one table in two databases row by row: the live
// table and its restored copy. Each side is streamed ordered by primary key
// as (key columns, the row) with COPY ... TO STDOUT, the row as COPY writes
// it or, on request, md5 of its text; the two streams are merged here, so
// memory stays flat whatever the table's size. It reports the rows only in live (a restore loses them), only in the
// snapshot (a restore brings them back) and those whose content differs,
// each with a count and a few sample keys, and the columns that differ.
// A table without a primary key is compared by whole-row hash, as a
// multiset, and the result says so.
package compare

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DefaultSamples is how many sample keys each kind of difference keeps.
const DefaultSamples = 20

// Options tune Table; zero values are defaults.
type Options struct {
	Samples int // sample keys per kind; 0: DefaultSamples
	// ServerHash sends md5 of each row's text instead of the row (less to
	// transfer from a distant cluster; about twice the server's CPU, as
	// record_out and md5 cost more than COPY's own output). By default the
	// rows are streamed as COPY writes them and compared here.
	ServerHash bool
	// Limit narrows the snapshot's side to some rows (an undelete's listed
	// keys or filter); nil compares every row. See Limit.
	Limit *Limit
}

// Diff is one kind of difference: how many rows, and the first keys.
type Diff struct {
	Count   int64    `json:"count"`
	Samples []string `json:"samples,omitempty"`
}

func (d *Diff) add(key func() string, max int) {
	d.Count++
	if len(d.Samples) < max {
		d.Samples = append(d.Samples, key())
	}
}

// Result is the comparison of one table.
type Result struct {
	Table string `json:"table"`
	// Key is the primary key's columns; empty when the table has none
	// (WholeRow), and then rows are matched by the hash of their content:
	// a changed row counts as one only in live and one only in the snapshot.
	Key      []string `json:"key,omitempty"`
	WholeRow bool     `json:"whole_row,omitempty"`
	// OnlyLive are rows the restore would lose; OnlySnapshot rows it would
	// bring back; Differ rows whose key is on both sides with other content.
	OnlyLive     Diff  `json:"only_live"`
	OnlySnapshot Diff  `json:"only_snapshot"`
	Differ       Diff  `json:"differ"`
	Same         int64 `json:"same"`
	// Schema lists column differences ("column note: text live, varchar
	// snapshot"). Rows are hashed over the columns both sides have with the
	// same type.
	Schema []string `json:"schema,omitempty"`
	// MissingLive / MissingSnapshot say the table does not exist on a side.
	MissingLive     bool `json:"missing_live,omitempty"`
	MissingSnapshot bool `json:"missing_snapshot,omitempty"`
	// Limited words the limit the snapshot's side was read with
	// (Options.Limit): then OnlySnapshot, Differ and Same count only those
	// rows, and OnlyLive every live row outside them.
	Limited string `json:"limited,omitempty"`
}

// Note is the sentence a page shows for how the table was compared.
func (r Result) Note() string {
	switch {
	case r.MissingLive:
		return "only in the snapshot: the restore brings the table back"
	case r.MissingSnapshot:
		return "only live: the restore removes the table"
	}
	if r.WholeRow {
		return "no primary key: compared by whole-row hash (a changed row shows as one row only live and one only in the snapshot; samples are row hashes)"
	}
	return "compared by primary key (" + strings.Join(r.Key, ", ") + ")"
}

type column struct {
	name, typ string
	generated bool
}

type tableInfo struct {
	exists bool
	cols   []column
	key    []string
	// keyTypes are the key columns' base type names (int8, text, uuid, ...).
	keyTypes []string
}

func describe(ctx context.Context, conn *pgx.Conn, t pgx.Identifier) (tableInfo, error) {
	var info tableInfo
	var oid uint32
	err := conn.QueryRow(ctx, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, t[0], t[1]).Scan(&oid)
	if err == pgx.ErrNoRows {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("describe %s: %w", t.Sanitize(), err)
	}
	info.exists = true
	rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> '' FROM pg_attribute a
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, oid)
	if err != nil {
		return info, fmt.Errorf("columns of %s: %w", t.Sanitize(), err)
	}
	info.cols, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.name, &c.typ, &c.generated)
	})
	if err != nil {
		return info, fmt.Errorf("columns of %s: %w", t.Sanitize(), err)
	}
	rows, err = conn.Query(ctx, `SELECT a.attname, bt.typname
		FROM pg_index i
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		JOIN pg_type ty ON ty.oid = a.atttypid
		JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
		WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord`, oid)
	if err != nil {
		return info, fmt.Errorf("primary key of %s: %w", t.Sanitize(), err)
	}
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			rows.Close()
			return info, err
		}
		info.key, info.keyTypes = append(info.key, n), append(info.keyTypes, ty)
	}
	rows.Close()
	return info, rows.Err()
}

// Table compares table (schema, name) in live and in snapshot (the restored
// copy). Both connections only read; the caller chooses who they log in as
// (a restore uses the project's owner role, so nothing runs with more rights
// than the customer has). Both sides read with row_security off: a table
// whose policies would hide rows from that role (FORCE ROW LEVEL SECURITY
// for its owner) fails the comparison (RowSecurityError) instead of
// comparing a filtered view.
func Table(ctx context.Context, live, snapshot *pgx.Conn, schema, name string, o Options) (res Result, err error) {
	for _, c := range []*pgx.Conn{live, snapshot} {
		restore, err := rowSecurityOff(ctx, c)
		if err != nil {
			return Result{Table: schema + "." + name}, err
		}
		defer restore()
	}
	res, err = table(ctx, live, snapshot, schema, name, o)
	return res, rowSecurity(res.Table, err)
}

func table(ctx context.Context, live, snapshot *pgx.Conn, schema, name string, o Options) (Result, error) {
	samples := o.Samples
	if samples <= 0 {
		samples = DefaultSamples
	}
	id := pgx.Identifier{schema, name}
	res := Result{Table: schema + "." + name}
	li, err := describe(ctx, live, id)
	if err != nil {
		return res, err
	}
	si, err := describe(ctx, snapshot, id)
	if err != nil {
		return res, err
	}
	res.MissingLive, res.MissingSnapshot = !li.exists, !si.exists
	if !li.exists && !si.exists {
		return res, fmt.Errorf("table %s exists on neither side", res.Table)
	}
	common := commonColumns(li, si, &res)
	// The key: the primary key both sides share; else the whole row.
	key, keyTypes := li.key, li.keyTypes
	switch {
	case !li.exists:
		key, keyTypes = si.key, si.keyTypes
	case !si.exists:
	case !slices.Equal(li.key, si.key) || !slices.Equal(li.keyTypes, si.keyTypes):
		res.Schema = append(res.Schema, fmt.Sprintf("primary key: (%s) live, (%s) snapshot", strings.Join(li.key, ", "), strings.Join(si.key, ", ")))
		key, keyTypes = nil, nil
	}
	res.Key, res.WholeRow = key, len(key) == 0
	q := streamQuery(id, key, keyTypes, common, o.ServerHash, "")
	sq := q
	if o.Limit != nil && si.exists {
		where, err := o.Limit.where(ctx, snapshot, si, key, res.Table)
		if err != nil {
			return res, err
		}
		res.Limited = o.Limit.String()
		sq = streamQuery(id, key, keyTypes, common, o.ServerHash, where)
		if len(o.Limit.Keys) > 0 {
			// Listed keys mean the same rows on both sides.
			q = sq
		}
	}
	kinds := make([]keyKind, len(key))
	for i, ty := range keyTypes {
		kinds[i] = kindOf(ty)
	}
	if res.WholeRow {
		kinds = []keyKind{kindBytes}
	}
	var lq string
	if li.exists {
		lq = q
	}
	if !si.exists {
		sq = ""
	}
	err = merge(ctx, live, lq, snapshot, sq, kinds, key, samples, &res)
	return res, err
}

// commonColumns lists the columns both sides have with the same type, in
// live's order, and notes the others in res.Schema.
func commonColumns(li, si tableInfo, res *Result) []string {
	if !li.exists {
		return names(si.cols)
	}
	if !si.exists {
		return names(li.cols)
	}
	st := map[string]string{}
	for _, c := range si.cols {
		st[c.name] = c.typ
	}
	var out []string
	for _, c := range li.cols {
		switch t, ok := st[c.name]; {
		case !ok:
			res.Schema = append(res.Schema, fmt.Sprintf("column %s (%s): only live", c.name, c.typ))
		case t != c.typ:
			res.Schema = append(res.Schema, fmt.Sprintf("column %s: %s live, %s snapshot", c.name, c.typ, t))
		default:
			out = append(out, c.name)
		}
		delete(st, c.name)
	}
	for _, c := range si.cols {
		if _, ok := st[c.name]; ok {
			res.Schema = append(res.Schema, fmt.Sprintf("column %s (%s): only in the snapshot", c.name, c.typ))
		}
	}
	return out
}

func names(cs []column) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}

// streamQuery is the COPY of (key columns..., the row), ordered so that the
// merge can compare keys bytewise or as integers: integer and uuid keys in
// their own order (an index scan), text keys in the "C" collation, any other
// type by its text form in "C". The row is the common columns as COPY
// writes them, or (serverHash, and always without a key) md5 of their row
// text.
func streamQuery(t pgx.Identifier, key, keyTypes, cols []string, serverHash bool, where string) string {
	if where != "" {
		where = " WHERE " + where
	}
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = "r." + pgx.Identifier{c}.Sanitize()
	}
	hash := "md5(ROW(" + strings.Join(q, ", ") + ")::text)"
	if len(key) == 0 {
		return fmt.Sprintf(`COPY (SELECT %s FROM ONLY %s r%s ORDER BY %s COLLATE "C") TO STDOUT`, hash, t.Sanitize(), where, hash)
	}
	sel := make([]string, 0, len(key)+len(cols))
	ord := make([]string, 0, len(key))
	for i, k := range key {
		c := "r." + pgx.Identifier{k}.Sanitize()
		switch kindOf(keyTypes[i]) {
		case kindInt, kindUUID:
			sel, ord = append(sel, c), append(ord, c)
		default:
			if isText(keyTypes[i]) {
				sel, ord = append(sel, c), append(ord, c+` COLLATE "C"`)
			} else {
				sel, ord = append(sel, c+"::text"), append(ord, c+`::text COLLATE "C"`)
			}
		}
	}
	if serverHash || len(cols) == 0 {
		sel = append(sel, hash)
	} else {
		sel = append(sel, q...)
	}
	return fmt.Sprintf("COPY (SELECT %s FROM ONLY %s r%s ORDER BY %s) TO STDOUT", strings.Join(sel, ", "), t.Sanitize(), where, strings.Join(ord, ", "))
}

// isText says whether a key type's COPY text is its value and its order in
// the "C" collation is bytewise (char(n) pads, citext folds case: those go by
// their text form instead).
func isText(t string) bool {
	return t == "text" || t == "varchar" || t == "name"
}

// Database compares every table of the two databases (the union of both
// sides' ordinary tables outside the system schemas, not an extension's; a
// partitioned table by its partitions, which hold its rows), in name order: a table on one side only is reported as such, with every row
// only on that side. It is the staged review of a full restore.
func Database(ctx context.Context, live, snapshot *pgx.Conn, o Options) ([]Result, error) {
	seen := map[string]pgx.Identifier{}
	for _, c := range []*pgx.Conn{live, snapshot} {
		rows, err := c.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind = 'r'
			AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
			AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`)
		if err != nil {
			return nil, fmt.Errorf("list the tables: %w", err)
		}
		for rows.Next() {
			var s, n string
			if err := rows.Scan(&s, &n); err != nil {
				rows.Close()
				return nil, err
			}
			seen[s+"."+n] = pgx.Identifier{s, n}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("list the tables: %w", err)
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]Result, 0, len(names))
	for _, k := range names {
		id := seen[k]
		r, err := Table(ctx, live, snapshot, id[0], id[1], o)
		if err != nil {
			return out, fmt.Errorf("compare %s: %w", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}
