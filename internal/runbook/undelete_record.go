package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	switch {
	case r.State == "committed":
		return true, nil
	case r.State != "committing" || r.XID == nil:
		return false, nil
	}
	conn, err := cl.Connect(ctx, r.LiveDatabase)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := cluster.XactStatus(ctx, conn, uint64(*r.XID))
		if err != nil {
			return false, err
		}
		switch st {
		case "committed":
			return true, undeleteCommitted(ctx, db, r.TicketID, r.Op)
		case "aborted":
			return false, nil
		case "":
			return false, fmt.Errorf("the live database no longer knows transaction %d of the undelete (%s): check %s by hand", *r.XID, r.Op, r.LiveDatabase)
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("transaction %d of the undelete is still in progress after a minute", *r.XID)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
