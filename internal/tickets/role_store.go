package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The record of the roles a ticket made on a project cluster (ticket_roles):
// a new-project restore's owner role. Like ticket_databases, the name is
// recorded before the role is created, and only a role recorded as made by
// the ticket is ever dropped.

// Role record states.
const (
	RolePlanned  = "planned"  // recorded; the role may not exist yet
	RoleMade     = "made"     // it exists and the ticket made it
	RoleExisting = "existing" // it existed before the claim: not the ticket's
	RoleDropped  = "dropped"  // gone
)

// RoleRecord is one role a ticket planned or made on cluster Cluster.
type RoleRecord struct {
	ID          int64
	TicketID    int64
	Cluster     string
	Name        string
	State       string
	LeftBecause string // why a drop left it: what still depends on it
	CreatedAt   time.Time
	MadeAt      *time.Time
	DroppedAt   *time.Time
}

const roleColumns = `id, ticket_id, cluster, name, state, left_because, created_at, made_at, dropped_at`

func scanRole(row pgx.Row) (RoleRecord, error) {
	var r RoleRecord
	err := row.Scan(&r.ID, &r.TicketID, &r.Cluster, &r.Name, &r.State, &r.LeftBecause, &r.CreatedAt, &r.MadeAt, &r.DroppedAt)
	return r, err
}

// RoleRecordActive returns the planned or made record of role name on
// cluster; ok false when there is none.
func RoleRecordActive(ctx context.Context, db DB, cluster, name string) (RoleRecord, bool, error) {
	r, err := scanRole(db.QueryRow(ctx, `SELECT `+roleColumns+` FROM ticket_roles
		WHERE cluster = $1 AND name = $2 AND state IN ('planned', 'made')`, cluster, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return RoleRecord{}, false, nil
	}
	if err != nil {
		return RoleRecord{}, false, fmt.Errorf("record of role %s: %w", name, err)
	}
	return r, true, nil
}

// RoleRecordClaim records role name on cluster as planned by ticket, before
// it is created. An active record (an earlier attempt's, or another
// ticket's) is returned as it is, with fresh false: the caller compares its
// TicketID.
func RoleRecordClaim(ctx context.Context, db DB, ticketID int64, cluster, name string) (rec RoleRecord, fresh bool, err error) {
	for range 2 {
		r, ok, err := RoleRecordActive(ctx, db, cluster, name)
		if err != nil {
			return RoleRecord{}, false, err
		}
		if ok {
			return r, false, nil
		}
		r, err = scanRole(db.QueryRow(ctx, `INSERT INTO ticket_roles (ticket_id, cluster, name)
			VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING `+roleColumns, ticketID, cluster, name))
		if err == nil {
			return r, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return RoleRecord{}, false, fmt.Errorf("record role %s for ticket %d: %w", name, ticketID, err)
		}
	}
	return RoleRecord{}, false, fmt.Errorf("record role %s for ticket %d: %w", name, ticketID, ErrConflict)
}

// RoleRecordSet moves a role record to state; leftBecause says why a drop
// left the role (empty clears it).
func RoleRecordSet(ctx context.Context, db DB, id int64, state, leftBecause string) error {
	tag, err := db.Exec(ctx, `UPDATE ticket_roles SET state = $2, left_because = $3,
			made_at = CASE WHEN $2 = 'made' THEN coalesce(made_at, now()) ELSE made_at END,
			dropped_at = CASE WHEN $2 = 'dropped' THEN now() END
		WHERE id = $1`, id, state, leftBecause)
	return recordSetResult(tag, err, fmt.Sprintf("role record %d", id))
}

// RoleRecordsByTicket lists every role record of a ticket, oldest first.
func RoleRecordsByTicket(ctx context.Context, db DB, ticketID int64) ([]RoleRecord, error) {
	rows, err := db.Query(ctx, `SELECT `+roleColumns+` FROM ticket_roles WHERE ticket_id = $1 ORDER BY id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("role records of ticket %d: %w", ticketID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RoleRecord, error) { return scanRole(r) })
}
