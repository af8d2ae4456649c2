// Package extract reads plain-format pg_dump output as a stream of entries.
//
// A dump is data, not a script: the Reader splits it into SQL statements, COPY
// blocks (whose rows are streamed, never buffered whole) and the few harmless
// psql meta-commands pg_dump writes (\restrict, \unrestrict, \connect). Any
// other meta-command is an error naming its line.
//
// The package is pure: it takes an io.Reader and imports no database or S3
// code. Inventory summarises a dump (tables, row counts, data sizes, versions)
// and Select decides which entries are needed to recreate chosen tables.
package extract
