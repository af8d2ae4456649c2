// Package migrations holds the portal's numbered SQL migrations, embedded so
// the binaries carry them. They are applied by internal/database.Migrate.
package migrations

import "embed"

// FS holds NNNN_name.sql files, applied in order of NNNN.
//
//go:embed *.sql
var FS embed.FS
