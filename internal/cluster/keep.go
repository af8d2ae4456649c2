package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Keep is where a table swap keeps the rows it replaces: schema Schema in
// the database of Conn, a database of its own beside the live one (never
// inside it, so later snapshots of the live database do not carry it, and
// it has its own retention). Every column is stored as text, the COPY text
// form of its value, so the copy needs none of the customer's types and runs
// none of the customer's code, and loads back into the live types exactly.
// The schema's _kept table lists the copies with their row counts.
type Keep struct {
	Conn   *pgx.Conn
	Schema string
}

// keptIndex is the table in a keep schema listing its copies.
const keptIndex = "_kept"

// keptName is the copy of t in schema: "schema.table", or a shortened name
// with a hash when that would pass 63 bytes (Postgres would truncate it).
func keptName(schema string, t Table) Table {
	n := t.Schema + "." + t.Name
	if len(n) > 63 {
		sum := sha256.Sum256([]byte(n))
		n = n[:50] + "_" + hex.EncodeToString(sum[:6])
	}
	return Table{schema, n}
}

// create replaces the keep schema (a copy of an attempt that did not commit
// its swap) with an empty one.
func (k Keep) create(ctx context.Context, tx pgx.Tx) error {
	s := ident(k.Schema)
	if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+s+" CASCADE; CREATE SCHEMA "+s); err != nil {
		return fmt.Errorf("create schema %s for the kept rows: %w", k.Schema, err)
	}
	_, err := tx.Exec(ctx, "CREATE TABLE "+Table{k.Schema, keptIndex}.Quoted()+` (
		source_table text PRIMARY KEY,
		kept_table   text NOT NULL,
		columns      text[] NOT NULL,
		types        text[] NOT NULL,
		rows         bigint NOT NULL,
		xid          text NOT NULL,
		kept_at      timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return fmt.Errorf("create the index of kept rows: %w", err)
	}
	return nil
}

// copyIn copies the rows of r, read on live inside its transaction, into a
// new table of the keep schema, and checks the rows that arrived are the rows
// that were read.
func (k Keep) copyIn(ctx context.Context, ktx pgx.Tx, live *pgx.Conn, r swapRel, xid string) (int64, error) {
	var defs, names, types []string
	for _, c := range r.cols {
		if c.generated {
			continue
		}
		defs = append(defs, ident(c.name)+" text")
		names = append(names, c.name)
		types = append(types, c.typ)
	}
	if _, err := ktx.Exec(ctx, "CREATE TABLE "+r.kept.Quoted()+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return 0, fmt.Errorf("create the kept copy of %s: %w", r.t, err)
	}
	list := insertable(r.cols)
	read, wrote, err := pipeCopy(ctx, live, "COPY (SELECT "+list+" FROM "+r.from()+") TO STDOUT",
		ktx.Conn(), "COPY "+r.kept.Quoted()+" ("+list+") FROM STDIN")
	if err != nil {
		return 0, fmt.Errorf("keep the rows of %s: %w", r.t, err)
	}
	var n int64
	if err := ktx.QueryRow(ctx, "SELECT count(*) FROM "+r.kept.Quoted()).Scan(&n); err != nil {
		return 0, err
	}
	if read != wrote || wrote != n {
		return 0, fmt.Errorf("keep the rows of %s: read %d, wrote %d, the copy holds %d", r.t, read, wrote, n)
	}
	_, err = ktx.Exec(ctx, "INSERT INTO "+Table{k.Schema, keptIndex}.Quoted()+
		" (source_table, kept_table, columns, types, rows, xid) VALUES ($1, $2, $3, $4, $5, $6)",
		r.t.String(), r.kept.Name, names, types, n, xid)
	return n, err
}

// pipeCopy streams COPY TO on from into COPY FROM on to and returns the rows
// each side counted.
func pipeCopy(ctx context.Context, from *pgx.Conn, out string, to *pgx.Conn, in string) (read, wrote int64, err error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		tag, err := from.PgConn().CopyTo(ctx, pw, out)
		read = tag.RowsAffected()
		pw.CloseWithError(err)
		done <- err
	}()
	tag, err := to.PgConn().CopyFrom(ctx, pr, in)
	pr.CloseWithError(err)
	if rerr := <-done; rerr != nil {
		err = errors.Join(rerr, err)
	}
	return read, tag.RowsAffected(), err
}

// loadFrom copies src's rows of r into the live table and checks the counts.
func loadFrom(ctx context.Context, src Source, live *pgx.Conn, r swapRel) (int64, error) {
	list := insertable(r.cols)
	from := r.from()
	if src.Schema != "" {
		kt, err := keptTable(ctx, src, r)
		if err != nil {
			return 0, err
		}
		from = kt.Quoted()
	}
	read, wrote, err := pipeCopy(ctx, src.Conn, "COPY (SELECT "+list+" FROM "+from+") TO STDOUT",
		live, "COPY "+r.t.Quoted()+" ("+list+") FROM STDIN")
	if err != nil {
		return 0, fmt.Errorf("load the rows of %s: %w", r.t, err)
	}
	if read != wrote {
		return 0, fmt.Errorf("load the rows of %s: read %d, wrote %d", r.t, read, wrote)
	}
	return wrote, nil
}

// keptTable finds r's copy in a keep schema and checks its columns are the
// live table's: a column added or dropped since would silently change rows.
func keptTable(ctx context.Context, src Source, r swapRel) (Table, error) {
	var name string
	var cols []string
	err := src.Conn.QueryRow(ctx, "SELECT kept_table, columns FROM "+Table{src.Schema, keptIndex}.Quoted()+" WHERE source_table = $1",
		r.t.String()).Scan(&name, &cols)
	if err != nil {
		return Table{}, fmt.Errorf("kept copy of %s in schema %s: %w", r.t, src.Schema, err)
	}
	var live []string
	for _, c := range r.cols {
		if !c.generated {
			live = append(live, c.name)
		}
	}
	if strings.Join(live, ",") != strings.Join(cols, ",") {
		return Table{}, fmt.Errorf("%s: the live columns (%s) are not the kept copy's (%s): nothing was changed",
			r.t, strings.Join(live, ", "), strings.Join(cols, ", "))
	}
	return Table{src.Schema, name}, nil
}

// KeptTables reads the index of a keep schema: each live table with the rows
// kept of it.
func KeptTables(ctx context.Context, conn *pgx.Conn, schema string) (map[string]int64, error) {
	rows, err := conn.Query(ctx, "SELECT source_table, rows FROM "+Table{schema, keptIndex}.Quoted())
	if err != nil {
		return nil, fmt.Errorf("kept tables in schema %s: %w", schema, err)
	}
	out := map[string]int64{}
	var name string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error { out[name] = n; return nil })
	return out, err
}
