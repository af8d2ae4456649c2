package templates

import "strings"

func joinKeys(keys []string) string { return strings.Join(keys, ", ") }
