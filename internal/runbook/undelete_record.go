package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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

func undeleteGet(ctx context.Context, db tickets.DB, ticket int64, op string) (undeleteRec, error) {
	var r undeleteRec
	err := db.QueryRow(ctx, `SELECT ticket_id, op, live_database, staging, tables, state, xid, coalesce(report, '{}')
		FROM ticket_undeletes WHERE ticket_id = $1 AND op = $2`, ticket, op).
		Scan(&r.TicketID, &r.Op, &r.LiveDatabase, &r.Staging, &r.Tables, &r.State, &r.XID, &r.Report)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, errNoUndelete
	}
	if err != nil {
		return r, fmt.Errorf("undelete record of ticket %d: %w", ticket, err)
	}
	return r, nil
}

// undeletePrepare records a merge (or its rollback) about to start, again
// for a retry of one that did not commit.
func undeletePrepare(ctx context.Context, db tickets.DB, r undeleteRec) error {
	tag, err := db.Exec(ctx, `INSERT INTO ticket_undeletes (ticket_id, op, live_database, staging, tables)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (ticket_id, op) DO UPDATE SET live_database = excluded.live_database, staging = excluded.staging,
			tables = excluded.tables, state = 'prepared', xid = NULL, report = NULL, created_at = now()
		WHERE ticket_undeletes.state <> 'committed'`, r.TicketID, r.Op, r.LiveDatabase, r.Staging, r.Tables)
	if err != nil {
		return fmt.Errorf("record the undelete of ticket %d: %w", r.TicketID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("the undelete (%s) of ticket %d is recorded as committed already", r.Op, r.TicketID)
	}
	return nil
}

// undeleteCommitting records the live transaction's id and report and, for
// a merge, the keys it inserted, in one portal transaction.
func undeleteCommitting(ctx context.Context, db tickets.DB, ticket int64, op string, xid uint64, report any, keys []cluster.MergedTable) error {
	b, err := json.Marshal(report)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE ticket_undeletes SET state = 'committing', xid = $3, report = $4
			WHERE ticket_id = $1 AND op = $2 AND state = 'prepared'`, ticket, op, int64(xid), b)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("the undelete (%s) of ticket %d is not recorded as prepared", op, ticket)
		}
		if op != "restore" {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM ticket_undelete_keys WHERE ticket_id = $1`, ticket); err != nil {
			return err
		}
		for _, m := range keys {
			k := m.Keys
			if k == nil {
				k = [][]string{}
			}
			kb, err := json.Marshal(k)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ticket_undelete_keys (ticket_id, table_name, key_columns, keys) VALUES ($1, $2, $3, $4)`,
				ticket, m.Table, m.KeyColumns, kb); err != nil {
				return fmt.Errorf("record the keys inserted into %s: %w", m.Table, err)
			}
		}
		return nil
	})
}

func undeleteCommitted(ctx context.Context, db tickets.DB, ticket int64, op string) error {
	_, err := db.Exec(ctx, `UPDATE ticket_undeletes SET state = 'committed', committed_at = now()
		WHERE ticket_id = $1 AND op = $2 AND state = 'committing'`, ticket, op)
	return err
}

// undeleteKeys reads the keys a ticket's merge inserted.
func undeleteKeys(ctx context.Context, db tickets.DB, ticket int64) ([]cluster.UnmergeTable, error) {
	rows, err := db.Query(ctx, `SELECT table_name, key_columns, keys FROM ticket_undelete_keys WHERE ticket_id = $1 ORDER BY table_name`, ticket)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (cluster.UnmergeTable, error) {
		var u cluster.UnmergeTable
		var name string
		var kb []byte
		if err := row.Scan(&name, &u.KeyColumns, &kb); err != nil {
			return u, err
		}
		t, err := cluster.ParseTable(name)
		if err != nil {
			return u, err
		}
		u.Table = t
		return u, json.Unmarshal(kb, &u.Keys)
	})
}

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
