package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The record of a ticket's database cut-over (ticket_cutovers): written
// before the block is taken, naming the session that holds it; its
// transaction id before the commit; its end after. See migration 0014.

// Cut-over ops and states.
const (
	CutoverRestore  = "restore"
	CutoverRollback = "rollback"

	CutoverBlocking   = "blocking"   // the session may hold the block; nothing committed
	CutoverCommitting = "committing" // renames done, commit asked (xid recorded)
	CutoverCommitted  = "committed"  // the incoming database is live
	CutoverUndone     = "undone"     // rolled back: the old database is live
)

// ErrNoCutover means a ticket has no cut-over record for the op.
var ErrNoCutover = errors.New("no cut-over recorded")

// Cutover is one cut-over record.
type Cutover struct {
	TicketID     int64
	Op           string
	Cluster      string
	LiveDatabase string
	Incoming     string
	Outgoing     string
	State        string
	BackendPID   int
	BackendStart time.Time
	XID          *uint64
	BlockedAt    time.Time
	EndedAt      *time.Time
	Note         string
}

// Open tells whether the record leaves the cut-over unresolved: its session
// may hold the block, or its commit's outcome is not recorded.
func (c Cutover) Open() bool { return c.State == CutoverBlocking || c.State == CutoverCommitting }

const cutoverColumns = `ticket_id, op, cluster, live_database, incoming, outgoing, state, backend_pid, backend_start, xid, blocked_at, ended_at, note`

// CutoverGet reads the cut-over record of ticket and op (ErrNoCutover).
func CutoverGet(ctx context.Context, db DB, ticketID int64, op string) (Cutover, error) {
	var c Cutover
	var xid *int64
	err := db.QueryRow(ctx, `SELECT `+cutoverColumns+` FROM ticket_cutovers WHERE ticket_id = $1 AND op = $2`, ticketID, op).Scan(
		&c.TicketID, &c.Op, &c.Cluster, &c.LiveDatabase, &c.Incoming, &c.Outgoing, &c.State, &c.BackendPID, &c.BackendStart, &xid, &c.BlockedAt, &c.EndedAt, &c.Note)
	if errors.Is(err, pgx.ErrNoRows) {
		return Cutover{}, ErrNoCutover
	}
	if err != nil {
		return Cutover{}, fmt.Errorf("cut-over of ticket %d: %w", ticketID, err)
	}
	if xid != nil {
		u := uint64(*xid)
		c.XID = &u
	}
	return c, nil
}

// CutoverBegin records that the session of c is about to block the
// databases of c (state blocking). An earlier attempt's record is replaced
// only when it is resolved (undone); an open or committed one is refused.
func CutoverBegin(ctx context.Context, db DB, c Cutover) error {
	tag, err := db.Exec(ctx, `INSERT INTO ticket_cutovers (ticket_id, op, cluster, live_database, incoming, outgoing, state, backend_pid, backend_start)
		VALUES ($1, $2, $3, $4, $5, $6, 'blocking', $7, $8)
		ON CONFLICT (ticket_id, op) DO UPDATE SET cluster = excluded.cluster, live_database = excluded.live_database,
			incoming = excluded.incoming, outgoing = excluded.outgoing, state = 'blocking', backend_pid = excluded.backend_pid,
			backend_start = excluded.backend_start, xid = NULL, blocked_at = now(), ended_at = NULL, note = ''
		WHERE ticket_cutovers.state = 'undone'`,
		c.TicketID, c.Op, c.Cluster, c.LiveDatabase, c.Incoming, c.Outgoing, c.BackendPID, c.BackendStart)
	if err != nil {
		return fmt.Errorf("record the cut-over of ticket %d: %w", c.TicketID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("record the cut-over of ticket %d: an earlier one is recorded and not undone: %w", c.TicketID, ErrConflict)
	}
	return nil
}

// CutoverRecordXID records the cut-over's transaction id before its commit
// (state committing).
func CutoverRecordXID(ctx context.Context, db DB, ticketID int64, op string, xid uint64) error {
	return cutoverSet(ctx, db, ticketID, op, `state = 'committing', xid = $3`, []string{CutoverBlocking}, int64(xid))
}

// CutoverEnd records how an open cut-over ended (committed or undone), with
// a note saying who found out how.
func CutoverEnd(ctx context.Context, db DB, ticketID int64, op, state, note string) error {
	if state != CutoverCommitted && state != CutoverUndone {
		return fmt.Errorf("cut-over end state %q", state)
	}
	return cutoverSet(ctx, db, ticketID, op, `state = $3, ended_at = now(), note = $4`, []string{CutoverBlocking, CutoverCommitting}, state, note)
}

func cutoverSet(ctx context.Context, db DB, ticketID int64, op, set string, from []string, args ...any) error {
	tag, err := db.Exec(ctx, `UPDATE ticket_cutovers SET `+set+` WHERE ticket_id = $1 AND op = $2 AND state = ANY($`+fmt.Sprint(3+len(args))+`)`,
		append(append([]any{ticketID, op}, args...), from)...)
	if err != nil {
		return fmt.Errorf("cut-over of ticket %d: %w", ticketID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("cut-over of ticket %d is not %v: %w", ticketID, from, ErrConflict)
	}
	return nil
}

// CutoversOpen lists every open cut-over record, oldest first: what a sweep
// (or a person) resolves when its worker is gone.
func CutoversOpen(ctx context.Context, db DB) ([]Cutover, error) {
	rows, err := db.Query(ctx, `SELECT ticket_id, op FROM ticket_cutovers WHERE state IN ('blocking', 'committing') ORDER BY blocked_at`)
	if err != nil {
		return nil, fmt.Errorf("open cut-overs: %w", err)
	}
	type key struct {
		id int64
		op string
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (key, error) {
		var k key
		return k, r.Scan(&k.id, &k.op)
	})
	if err != nil {
		return nil, err
	}
	var out []Cutover
	for _, k := range keys {
		c, err := CutoverGet(ctx, db, k.id, k.op)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
