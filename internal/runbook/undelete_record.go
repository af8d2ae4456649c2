package runbook

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// The record of an undelete's merge and of its rollback in the portal
// (ticket_undeletes, ticket_undelete_keys), as ticket_table_swaps records a
// table swap: written before the live transaction starts, its transaction id
// and the inserted keys just before its commit, the fact right after. A retry
// reads it first and asks the live database (pg_xact_status) about a merge
// recorded as committing.

// StepMerged is reached inside an undelete's live transaction, its rows
// inserted and its transaction id and keys recorded, just before the commit
// (for fault tests that kill the worker there).
const StepMerged Step = "merged"

type undeleteRec struct {
	TicketID     int64
	Op           string // "restore" or "rollback"
	LiveDatabase string
	Staging      string
	Tables       []string
	State        string
	XID          *int64
	Report       json.RawMessage
}

// mergeReport is what a committed merge records (keys apart).
type mergeReport struct {
	Tables    []cluster.MergedTable `json:"tables"`
	Sequences map[string]int64      `json:"sequences,omitempty"`
}

var errNoUndelete = errors.New("no undelete recorded")

// resolveUndelete tells whether recorded merge (or rollback) r committed,
// asking the live database about a transaction recorded as committing and
// waiting for one still in progress.
func resolveUndelete(ctx context.Context, db tickets.DB, cl *cluster.Cluster, r undeleteRec) (bool, error) {
	return resolveCommit(ctx, cl, r.State, r.XID, r.LiveDatabase, "undelete", r.Op, func() error {
		return undeleteCommitted(ctx, db, r.TicketID, r.Op)
	})
}
