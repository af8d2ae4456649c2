// Package extract reads plain-format pg_dump output as a stream of entries.
//
// A dump is data, not a script: the Reader splits it into SQL statements, COPY
// blocks (whose rows are streamed, never buffered whole) and the few harmless
// psql meta-commands pg_dump writes (\restrict, \unrestrict, \connect). Any
// other meta-command is an error naming its line.
//
// The statement gate (ClassifyStatement, CheckEntry; Inventory and Select apply it to
// every entry) refuses what a dump must never run: COPY other than FROM stdin,
// ALTER SYSTEM, role, database and tablespace DDL, SET ROLE and SESSION
// AUTHORIZATION, RESET ALL, LOAD, set_config of the role, and anything after the
// completion trailer. It lexes like the server, so comments and quoting do not hide a
// statement; but dollar-quoted text (function bodies, DO blocks) is data to it, and what
// such code runs is decided when it runs. The gate is the second line of defence: the
// first is the restore's non-superuser role that owns only the target database.
//
// The package is pure: it takes an io.Reader and imports no database or S3
// code. Inventory summarises a dump (tables, row counts, data sizes, versions)
// and Select decides which entries are needed to recreate chosen tables.
package extract
