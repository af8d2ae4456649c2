package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// Table is a schema-qualified table name.
type Table struct {
	Schema string
	Name   string
}

// ParseTable splits "schema.table" (no quoting; names come from the dump's
// inventory, which has already validated them).
func ParseTable(s string) (Table, error) {
	schema, name, ok := strings.Cut(s, ".")
	if !ok || schema == "" || name == "" {
		return Table{}, fmt.Errorf("table %q is not schema.table", s)
	}
	return Table{schema, name}, nil
}

func (t Table) String() string { return t.Schema + "." + t.Name }

// Quoted is the table's SQL name.
func (t Table) Quoted() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

type column struct {
	name      string
	typ       string
	notNull   bool
	generated bool
}

func columns(ctx context.Context, q dbx.DBTX, t Table) ([]column, error) {
	rows, err := q.Query(ctx, `
		SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated <> ''
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, t.Schema, t.Name)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", t, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.name, &c.typ, &c.notNull, &c.generated)
	})
}

// ColumnDiff compares the columns of tables in the live database with the
// restored (staging) copy and returns one readable line per difference; none
// means the snapshot's rows fit the live tables.
func ColumnDiff(ctx context.Context, live, staging *pgx.Conn, tables []Table) ([]string, error) {
	var diff []string
	for _, t := range tables {
		lc, err := columns(ctx, live, t)
		if err != nil {
			return nil, err
		}
		sc, err := columns(ctx, staging, t)
		if err != nil {
			return nil, err
		}
		if len(lc) == 0 {
			diff = append(diff, fmt.Sprintf("%s: table is missing in the live database", t))
			continue
		}
		if len(sc) == 0 {
			diff = append(diff, fmt.Sprintf("%s: table is missing in the snapshot", t))
			continue
		}
		byName := map[string]column{}
		for _, c := range lc {
			byName[c.name] = c
		}
		seen := map[string]bool{}
		for _, s := range sc {
			seen[s.name] = true
			l, ok := byName[s.name]
			switch {
			case !ok:
				diff = append(diff, fmt.Sprintf("%s: column %q (%s) is in the snapshot, not in the live table", t, s.name, s.typ))
			case l.typ != s.typ:
				diff = append(diff, fmt.Sprintf("%s: column %q is %s in the live table, %s in the snapshot", t, s.name, l.typ, s.typ))
			case l.generated != s.generated:
				diff = append(diff, fmt.Sprintf("%s: column %q is generated in one and not the other", t, s.name))
			}
		}
		for _, l := range lc {
			if !seen[l.name] {
				diff = append(diff, fmt.Sprintf("%s: column %q (%s) is in the live table, not in the snapshot", t, l.name, l.typ))
			}
		}
	}
	return diff, nil
}

// topTables drops tables whose partitioned parent is also listed: the
// parent's rows include theirs.
func topTables(ctx context.Context, conn *pgx.Conn, tables []Table) ([]Table, error) {
	var out []Table
	for _, t := range tables {
		var parent *string
		err := conn.QueryRow(ctx, `
			SELECT format('%s.%s', pn.nspname, p.relname) FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
			JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2`, t.Schema, t.Name).Scan(&parent)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		if parent != nil && slices.ContainsFunc(tables, func(x Table) bool { return x.String() == *parent }) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

func insertable(cols []column) string {
	var names []string
	for _, c := range cols {
		if !c.generated {
			names = append(names, pgx.Identifier{c.name}.Sanitize())
		}
	}
	return strings.Join(names, ", ")
}

func count(ctx context.Context, q dbx.DBTX, table string) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n)
	return n, err
}

// Backup copies the live rows of tables into schema (created anew) in one
// transaction and returns the row counts copied.
//
// Deprecated: the backup commits before, and apart from, Replace, so rows
// written in between are lost, and it lives inside the live database. Use
// ReplaceRows, which keeps the rows elsewhere in the swap's transaction.
func Backup(ctx context.Context, live *pgx.Conn, schema string, tables []Table) (map[string]int64, error) {
	tables, err := topTables(ctx, live, tables)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	err = pgx.BeginFunc(ctx, live, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("create backup schema %s: %w", schema, err)
		}
		for _, t := range tables {
			b := backupName(schema, t)
			tag, err := tx.Exec(ctx, "CREATE TABLE "+b.Quoted()+" AS SELECT * FROM "+t.Quoted())
			if err != nil {
				return fmt.Errorf("back up %s: %w", t, err)
			}
			out[t.String()] = tag.RowsAffected()
		}
		return nil
	})
	return out, err
}

// backupName keeps the backup of schema.table apart from tables of the same
// name in other schemas.
func backupName(schema string, t Table) Table {
	return Table{schema, t.Schema + "." + t.Name}
}

// replacedMarker is the table Replace creates in the backup schema.
const replacedMarker = "_replaced"

// IsReplaced tells whether Replace committed with backupSchema.
func IsReplaced(ctx context.Context, conn *pgx.Conn, backupSchema string) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2)`, backupSchema, replacedMarker).Scan(&ok)
	return ok, err
}

// DropSchema removes a backup schema (after the retention period).
func DropSchema(ctx context.Context, live *pgx.Conn, schema string) error {
	_, err := live.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

// SchemaExists tells whether schema exists in the database of conn.
func SchemaExists(ctx context.Context, conn *pgx.Conn, schema string) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&ok)
	return ok, err
}

// Replaced reports a table-scope replacement.
type Replaced struct {
	Before   map[string]int64 // live rows before
	After    map[string]int64 // rows after, from the snapshot
	Dangling []string         // references to missing rows (only when allowed)
}

// ErrDangling means rows outside (or inside) the restored tables would point
// at rows that are no longer there; the replacement was rolled back.
var ErrDangling = errors.New("rows would point at missing rows")

// DanglingError lists the broken references.
type DanglingError struct{ Refs []string }

func (e *DanglingError) Error() string {
	return fmt.Sprintf("%s: %s (set the ticket's allow-dangling option to proceed anyway)", ErrDangling, strings.Join(e.Refs, "; "))
}

func (e *DanglingError) Unwrap() error { return ErrDangling }

// Replace swaps the contents of tables in the live database for the rows of
// the staging copy, in one transaction: rows deleted, the snapshot's rows
// streamed across by COPY, owned sequences set to the snapshot's values.
// Triggers and foreign-key checks are off during the swap (replica mode), so
// the restored rows arrive exactly as they were; afterwards every foreign key
// touching the tables is checked, and unless allowDangling the transaction
// rolls back with the list of broken references.
//
// The same transaction creates a marker table in backupSchema, so a retried
// job can tell (Replaced) whether the swap committed before a crash.
//
// Deprecated: Replace needs superuser (replica mode) and a Backup taken
// apart from it; use ReplaceRows.
func Replace(ctx context.Context, live, staging *pgx.Conn, tables []Table, backupSchema string, allowDangling bool) (Replaced, error) {
	tables, err := topTables(ctx, live, tables)
	if err != nil {
		return Replaced{}, err
	}
	res := Replaced{Before: map[string]int64{}, After: map[string]int64{}}
	err = pgx.BeginFunc(ctx, live, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		for _, t := range tables {
			n, err := count(ctx, tx, t.Quoted())
			if err != nil {
				return err
			}
			res.Before[t.String()] = n
			r, err := swapRelsConn(ctx, tx.Conn(), t)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM "+r.from()); err != nil {
				return fmt.Errorf("clear %s: %w", t, err)
			}
		}
		for _, t := range tables {
			n, err := copyAcross(ctx, staging, tx.Conn(), t)
			if err != nil {
				return err
			}
			res.After[t.String()] = n
			if err := copySequences(ctx, staging, tx, t); err != nil {
				return err
			}
		}
		refs, err := danglingRefs(ctx, tx, tables)
		if err != nil {
			return err
		}
		if len(refs) > 0 && !allowDangling {
			return &DanglingError{Refs: refs}
		}
		res.Dangling = refs
		_, err = tx.Exec(ctx, "CREATE TABLE "+Table{backupSchema, replacedMarker}.Quoted()+" (at timestamptz DEFAULT now())")
		return err
	})
	if err != nil {
		return Replaced{}, err
	}
	return res, nil
}

func copyAcross(ctx context.Context, from, to *pgx.Conn, t Table) (int64, error) {
	cols, err := columns(ctx, to, t)
	if err != nil {
		return 0, err
	}
	list := insertable(cols)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := from.PgConn().CopyTo(ctx, pw, "COPY (SELECT "+list+" FROM "+t.Quoted()+") TO STDOUT")
		pw.CloseWithError(err)
		done <- err
	}()
	tag, err := to.PgConn().CopyFrom(ctx, pr, "COPY "+t.Quoted()+" ("+list+") FROM STDIN")
	pr.CloseWithError(err)
	if rerr := <-done; rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return 0, fmt.Errorf("copy %s from the restored copy: %w", t, err)
	}
	return tag.RowsAffected(), nil
}

func copySequences(ctx context.Context, staging *pgx.Conn, tx pgx.Tx, t Table) error {
	cols, err := columns(ctx, tx, t)
	if err != nil {
		return err
	}
	for _, c := range cols {
		var seq *string
		if err := staging.QueryRow(ctx, `SELECT pg_get_serial_sequence($1, $2)`, t.Quoted(), c.name).Scan(&seq); err != nil {
			return fmt.Errorf("sequence of %s.%s: %w", t, c.name, err)
		}
		if seq == nil {
			continue
		}
		var last int64
		var called bool
		if err := staging.QueryRow(ctx, "SELECT last_value, is_called FROM "+*seq).Scan(&last, &called); err != nil {
			return fmt.Errorf("read sequence %s: %w", *seq, err)
		}
		if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, $2, $3)`, *seq, last, called); err != nil {
			return fmt.Errorf("set sequence %s: %w", *seq, err)
		}
	}
	return nil
}

// danglingRefs checks every foreign key with exactly one side among tables:
// rows of other tables pointing into the replaced ones, and replaced rows
// pointing out into tables that were not replaced.
func danglingRefs(ctx context.Context, tx pgx.Tx, tables []Table) ([]string, error) {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Quoted()
	}
	rows, err := tx.Query(ctx, `
		WITH sel AS (SELECT unnest($1::text[])::regclass AS oid)
		SELECT con.conname,
		       (SELECT format('%I.%I', nspname, relname) FROM pg_class JOIN pg_namespace n ON n.oid = relnamespace WHERE pg_class.oid = con.conrelid),
		       (SELECT format('%I.%I', nspname, relname) FROM pg_class JOIN pg_namespace n ON n.oid = relnamespace WHERE pg_class.oid = con.confrelid),
		       (SELECT array_agg(quote_ident(attname) ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
		          JOIN pg_attribute ON attrelid = con.conrelid AND attnum = k.n),
		       (SELECT array_agg(quote_ident(attname) ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
		          JOIN pg_attribute ON attrelid = con.confrelid AND attnum = k.n)
		FROM pg_constraint con
		WHERE con.contype = 'f' AND con.conparentid = 0
		  AND (con.conrelid IN (SELECT oid FROM sel)) <> (con.confrelid IN (SELECT oid FROM sel))
		ORDER BY 1`, names)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	type fk struct {
		name, child, parent string
		ccols, pcols        []string
	}
	fks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fk, error) {
		var f fk
		return f, r.Scan(&f.name, &f.child, &f.parent, &f.ccols, &f.pcols)
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fks {
		var notNull, match []string
		for i := range f.ccols {
			notNull = append(notNull, "c."+f.ccols[i]+" IS NOT NULL")
			match = append(match, "p."+f.pcols[i]+" = c."+f.ccols[i])
		}
		q := fmt.Sprintf(`SELECT count(*) FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s)`,
			f.child, strings.Join(notNull, " AND "), f.parent, strings.Join(match, " AND "))
		var n int64
		if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("check foreign key %s: %w", f.name, err)
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%d rows of %s (%s) point at missing rows of %s (foreign key %s)",
				n, f.child, strings.Join(f.ccols, ", "), f.parent, f.name))
		}
	}
	return out, nil
}

// RestoreBackup puts the backed-up rows of tables back, in one transaction:
// the rollback of a table-scope restore made by Backup and Replace. It keeps
// for tickets restored before ReplaceRows; new rollbacks swap the kept copy
// back with ReplaceRows, keeping aside what was written since.
func RestoreBackup(ctx context.Context, live *pgx.Conn, schema string, tables []Table) (map[string]int64, error) {
	tables, err := topTables(ctx, live, tables)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	err = pgx.BeginFunc(ctx, live, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		for _, t := range tables {
			r, err := swapRelsConn(ctx, tx.Conn(), t)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM "+r.from()); err != nil {
				return fmt.Errorf("clear %s: %w", t, err)
			}
			cols, err := columns(ctx, tx, t)
			if err != nil {
				return err
			}
			list := insertable(cols)
			tag, err := tx.Exec(ctx, "INSERT INTO "+t.Quoted()+" ("+list+") OVERRIDING SYSTEM VALUE SELECT "+list+" FROM "+backupName(schema, t).Quoted())
			if err != nil {
				return fmt.Errorf("put back %s: %w", t, err)
			}
			out[t.String()] = tag.RowsAffected()
		}
		return nil
	})
	return out, err
}
