package snapshots

import "strings"

// DatabaseName is the database on the project cluster of a project the
// portal creates (the demo's, a new-project restore's): its ref with dashes
// made underscores.
func DatabaseName(ref string) string { return strings.ReplaceAll(ref, "-", "_") }
