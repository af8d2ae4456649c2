package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The record of what a ticket made on a project cluster (ticket_databases).
// A restore records a name BEFORE it creates the database, and drops or
// renames only databases recorded as its own; a retry reads the record.

// DefaultCluster names the project cluster of PORTAL_PROJECTS_ADMIN_URL
// (cluster.Default); a record names the cluster its database is on.
const DefaultCluster = "default"

func clusterOrDefault(name string) string {
	if name == "" {
		return DefaultCluster
	}
	return name
}

// DatabaseRecordOfTicket returns the active record of name (schema "" for
// the database itself) made by ticket ticketID, on whichever cluster it is;
// ok false when the ticket has none.
func DatabaseRecordOfTicket(ctx context.Context, db DB, ticketID int64, name, schema string) (DatabaseRecord, bool, error) {
	recs, err := DatabaseRecordsByTicket(ctx, db, ticketID)
	if err != nil {
		return DatabaseRecord{}, false, err
	}
	for _, r := range recs {
		if r.Name == name && r.Schema == schema && r.State != RecordDropped {
			return r, true, nil
		}
	}
	return DatabaseRecord{}, false, nil
}

// Record states.
const (
	RecordPlanned = "planned" // recorded; the database may not exist yet
	RecordMade    = "made"    // it exists and is the ticket's
	RecordLive    = "live"    // it became a project's live database
	RecordDropped = "dropped" // gone: dropped, or renamed (RenamedTo)
)

// Record purposes (the cluster.Purpose of the name).
const (
	PurposeStaging       = "staging"
	PurposeKept          = "kept"
	PurposeRollbackAside = "rollback_aside"
	PurposeTableBackup   = "table_backup"
	PurposeNewProject    = "new_project"
)

// DatabaseRecord is one database (or, with Schema, one backup schema inside
// database Name) made by a ticket.
type DatabaseRecord struct {
	ID        int64
	TicketID  int64
	Cluster   string
	Name      string
	Schema    string
	Purpose   string
	State     string
	RenamedTo string
	DropAfter *time.Time
	CreatedAt time.Time
	MadeAt    *time.Time
	DroppedAt *time.Time
}

// String describes the record for a ticket's message.
func (r DatabaseRecord) String() string {
	what := "database " + r.Name
	if r.Schema != "" {
		what = fmt.Sprintf("schema %s in database %s", r.Schema, r.Name)
	}
	return fmt.Sprintf("%s (%s, %s)", what, r.Purpose, r.State)
}

// NameTakenError means the name is recorded for another ticket.
type NameTakenError struct {
	Name     string
	TicketID int64
	Purpose  string
}

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("%s is recorded as the %s of ticket %d; it is not this ticket's to create, drop or rename", e.Name, e.Purpose, e.TicketID)
}

// ErrNotRecorded means a database is not recorded as made by the ticket.
var ErrNotRecorded = errors.New("not recorded as made by this ticket")

const recordColumns = `id, ticket_id, cluster, name, schema, purpose, state, coalesce(renamed_to, ''), drop_after, created_at, made_at, dropped_at`

func scanRecord(row pgx.Row) (DatabaseRecord, error) {
	var r DatabaseRecord
	err := row.Scan(&r.ID, &r.TicketID, &r.Cluster, &r.Name, &r.Schema, &r.Purpose, &r.State, &r.RenamedTo, &r.DropAfter, &r.CreatedAt, &r.MadeAt, &r.DroppedAt)
	return r, err
}

// DatabaseRecordActive returns the record of name (schema "" for the
// database itself) that is not dropped; ok false when there is none.
// It reads cluster DefaultCluster: DatabaseRecordActiveOn names the cluster.
func DatabaseRecordActive(ctx context.Context, db DB, name, schema string) (DatabaseRecord, bool, error) {
	return DatabaseRecordActiveOn(ctx, db, DefaultCluster, name, schema)
}

// DatabaseRecordActiveOn is DatabaseRecordActive on cluster (a configured
// cluster's name, the project's; "" is DefaultCluster).
func DatabaseRecordActiveOn(ctx context.Context, db DB, cluster, name, schema string) (DatabaseRecord, bool, error) {
	r, err := scanRecord(db.QueryRow(ctx, `SELECT `+recordColumns+` FROM ticket_databases
		WHERE cluster = $1 AND name = $2 AND schema = $3 AND state <> 'dropped'`, clusterOrDefault(cluster), name, schema))
	if errors.Is(err, pgx.ErrNoRows) {
		return DatabaseRecord{}, false, nil
	}
	if err != nil {
		return DatabaseRecord{}, false, fmt.Errorf("record of %s: %w", name, err)
	}
	return r, true, nil
}

// DatabaseRecordClaim records name as planned by ticket for purpose, before
// it is created; an active record of the same ticket and purpose (an earlier
// attempt's) is returned as it is, with fresh false. A name recorded for
// another ticket, or for another purpose, is a *NameTakenError.
// It records on cluster DefaultCluster: DatabaseRecordClaimOn names the
// cluster.
func DatabaseRecordClaim(ctx context.Context, db DB, ticketID int64, name, schema, purpose string) (rec DatabaseRecord, fresh bool, err error) {
	return DatabaseRecordClaimOn(ctx, db, ticketID, DefaultCluster, name, schema, purpose)
}

// DatabaseRecordClaimOn is DatabaseRecordClaim on cluster (a configured
// cluster's name, the project's; "" is DefaultCluster).
func DatabaseRecordClaimOn(ctx context.Context, db DB, ticketID int64, cluster, name, schema, purpose string) (rec DatabaseRecord, fresh bool, err error) {
	cluster = clusterOrDefault(cluster)
	for range 2 {
		r, ok, err := DatabaseRecordActiveOn(ctx, db, cluster, name, schema)
		if err != nil {
			return DatabaseRecord{}, false, err
		}
		if ok {
			if r.TicketID != ticketID || r.Purpose != purpose {
				return DatabaseRecord{}, false, &NameTakenError{Name: name, TicketID: r.TicketID, Purpose: r.Purpose}
			}
			return r, false, nil
		}
		r, err = scanRecord(db.QueryRow(ctx, `INSERT INTO ticket_databases (ticket_id, cluster, name, schema, purpose)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING `+recordColumns, ticketID, cluster, name, schema, purpose))
		if err == nil {
			return r, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return DatabaseRecord{}, false, fmt.Errorf("record %s for ticket %d: %w", name, ticketID, err)
		}
		// Recorded by someone else meanwhile: read who.
	}
	return DatabaseRecord{}, false, fmt.Errorf("record %s for ticket %d: %w", name, ticketID, ErrConflict)
}

// DatabaseRecordSet moves a record to state (made, live or dropped);
// renamedTo says what a dropped record was renamed to, dropAfter when cleanup
// may drop it (nil keeps the current value).
func DatabaseRecordSet(ctx context.Context, db DB, id int64, state, renamedTo string, dropAfter *time.Time) error {
	tag, err := db.Exec(ctx, `UPDATE ticket_databases SET state = $2,
			renamed_to = nullif($3, ''),
			drop_after = coalesce($4, drop_after),
			made_at = CASE WHEN $2 IN ('made', 'live') THEN coalesce(made_at, now()) ELSE made_at END,
			dropped_at = CASE WHEN $2 = 'dropped' THEN now() END
		WHERE id = $1`, id, state, renamedTo, dropAfter)
	return recordSetResult(tag, err, fmt.Sprintf("record %d", id))
}

// recordSetResult is the outcome of an update of one record (what names it):
// its error, or ErrNotRecorded when no row has that id.
func recordSetResult(tag pgconn.CommandTag, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%s: %w", what, ErrNotRecorded)
	}
	return nil
}

// DatabaseRecordsByTicket lists every record of a ticket, oldest first.
func DatabaseRecordsByTicket(ctx context.Context, db DB, ticketID int64) ([]DatabaseRecord, error) {
	rows, err := db.Query(ctx, `SELECT `+recordColumns+` FROM ticket_databases WHERE ticket_id = $1 ORDER BY id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("records of ticket %d: %w", ticketID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DatabaseRecord, error) { return scanRecord(r) })
}

// DatabaseRecordsDue lists kept copies, rollback-aside databases and backup
// schemas whose drop_after has passed: what cleanup may drop now.
func DatabaseRecordsDue(ctx context.Context, db DB, now time.Time) ([]DatabaseRecord, error) {
	rows, err := db.Query(ctx, `SELECT `+recordColumns+` FROM ticket_databases
		WHERE state = 'made' AND drop_after < $1 AND purpose IN ('kept', 'rollback_aside', 'table_backup') ORDER BY id`, now)
	if err != nil {
		return nil, fmt.Errorf("records due for cleanup: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DatabaseRecord, error) { return scanRecord(r) })
}

// SafetySnapshotOf returns the safety snapshot recorded for a ticket.
func SafetySnapshotOf(ctx context.Context, db DB, ticketID int64) (int64, bool, error) {
	var id int64
	err := db.QueryRow(ctx, `SELECT snapshot_id FROM ticket_safety_snapshots WHERE ticket_id = $1`, ticketID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("safety snapshot of ticket %d: %w", ticketID, err)
	}
	return id, true, nil
}

// SafetySnapshotRecord records the safety snapshot a ticket's restore took.
func SafetySnapshotRecord(ctx context.Context, db DB, ticketID, snapshotID int64) error {
	if _, err := db.Exec(ctx, `INSERT INTO ticket_safety_snapshots (ticket_id, snapshot_id) VALUES ($1, $2)
		ON CONFLICT (ticket_id) DO UPDATE SET snapshot_id = excluded.snapshot_id`, ticketID, snapshotID); err != nil {
		return fmt.Errorf("record safety snapshot of ticket %d: %w", ticketID, err)
	}
	return nil
}

// SafetySnapshotShown is a ticket's safety snapshot as its page shows it.
type SafetySnapshotShown struct {
	SnapshotID    int64
	Key           string
	RecordedAt    time.Time
	DeletedAt     *time.Time
	DeletedReason string
}

// SafetySnapshotShow reads the safety snapshot of a ticket with its catalog
// state; ok false when the ticket took none.
func SafetySnapshotShow(ctx context.Context, db DB, ticketID int64) (SafetySnapshotShown, bool, error) {
	var s SafetySnapshotShown
	err := db.QueryRow(ctx, `SELECT ss.snapshot_id, coalesce(s.key, ''), ss.created_at, s.deleted_at, coalesce(s.deleted_reason, '')
		FROM ticket_safety_snapshots ss LEFT JOIN snapshots s ON s.id = ss.snapshot_id WHERE ss.ticket_id = $1`, ticketID).
		Scan(&s.SnapshotID, &s.Key, &s.RecordedAt, &s.DeletedAt, &s.DeletedReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("safety snapshot of ticket %d: %w", ticketID, err)
	}
	return s, true, nil
}
