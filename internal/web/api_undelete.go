package web

import (
	"strings"

	"github.com/restoreportal/portal/internal/tickets"
)

// apiUndeleteLimit tidies an undelete limit sent to the API the way the
// triage form does (undeleteLimitForm): names trimmed, blank keys dropped,
// an empty limit none at all. tickets.Prepare checks the rest.
func apiUndeleteLimit(l tickets.UndeleteLimit) tickets.UndeleteLimit {
	l.Table = strings.TrimSpace(l.Table)
	keys := l.Keys[:0:0]
	for _, k := range l.Keys {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	l.Keys = keys
	l.Filter.Column = strings.TrimSpace(l.Filter.Column)
	if !l.Limits() && !l.HasFilter() {
		return tickets.UndeleteLimit{}
	}
	return l
}
