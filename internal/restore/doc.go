// Package restore applies the entries of a plain-format pg_dump (read by
// internal/extract) to a target database through pgx, in parallel.
//
// Pre-data statements run in dump order on one connection. Table data is copied
// over Jobs connections: the single input stream is read sequentially, and each
// COPY block is handed, in bounded chunks, to an idle worker connection whose
// server backend parses and stores the rows while the reader moves on to the next
// block. Post-data runs in a dependency-safe schedule: primary/unique keys and
// indexes in parallel per table, foreign keys in parallel once all keys exist
// (never two at once on the same table), anything else serially at a barrier in
// dump order, and materialized view refreshes last.
//
// No psql, pg_restore or shell is involved: statements go over the simple
// protocol and rows through PgConn().CopyFrom. The dump is data: psql
// meta-commands other than \restrict, \unrestrict and \connect to the same
// database are refused by the reader or here.
package restore
