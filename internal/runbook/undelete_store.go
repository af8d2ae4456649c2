package runbook

// The record of an undelete in the portal (ticket_undeletes,
// ticket_undelete_keys): see undelete_record.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

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
