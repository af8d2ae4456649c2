// Package restore applies the entries of a plain-format pg_dump (read by
// internal/extract) to a target database through pgx, in parallel.
//
// Pre-data statements run in dump order on one connection. Table data is copied
// over Jobs connections: the single input stream is read sequentially, and each
// COPY block is handed, in 256 KiB chunks, to an idle worker connection whose
// server backend parses and stores the rows while the reader moves on. The reader
// may run ahead of busy connections by at most Options.MemoryBudget, so the next
// table's COPY starts while the previous one is still being stored, and memory
// does not grow with the dump. A table this run created is loaded with
// TRUNCATE + COPY FREEZE in one transaction (no later hint-bit rewrites).
//
// Post-data runs in a dependency-safe schedule: keys and indexes start as soon as
// their own table's data is stored (indexes of one table together, ALTER TABLE
// constraints alone on their table), foreign keys between plain tables as soon as
// both tables' data and keys exist, never two conflicting lock holders on a table
// at once; anything not understood runs serially at a barrier after all data, in
// dump order; materialized view refreshes come last.
//
// No psql, pg_restore or shell is involved: statements go over the simple
// protocol and rows through PgConn().CopyFrom. The dump is data: psql
// meta-commands other than \restrict, \unrestrict and \connect to the same
// database are refused, and so are pg_dump --create database statements.
// Verification compares the rows the server stored (CommandTag.RowsAffected)
// with the rows of each COPY block.
package restore
