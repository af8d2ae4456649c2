// Package audit is the portal's append-only trail of who did what and when:
// ticket changes, approvals, restore starts and ends, rollbacks, logins and
// user changes. Events are written in the same transaction as the change they
// describe; the table refuses updates and deletes.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// DB is a pool, a connection or a transaction.
type DB = dbx.DBTX

// Actor is who did something: a staff user, or a named part of the portal
// such as "worker" or "intake" (ID zero).
type Actor struct {
	ID      int64
	Name    string // email of a user, or the system part's name
	Address string // remote address of the request, when there was one
}

// System is an actor that is a part of the portal, not a person.
func System(name string) Actor { return Actor{Name: name} }

// Event is one line of the trail.
type Event struct {
	ID       int64
	At       time.Time
	ActorID  int64
	Actor    string
	Action   string
	TicketID int64
	UserID   int64
	Address  string
	Before   json.RawMessage
	After    json.RawMessage
}

// Entry is what a change records.
type Entry struct {
	Action   string // e.g. "ticket.created", "ticket.approved", "user.login"
	TicketID int64
	UserID   int64 // the user the event is about (user changes, logins)
	Before   any   // marshalled to JSON; nil for none
	After    any
}

// Record appends one event. Call it with the transaction of the change.
func Record(ctx context.Context, db DB, a Actor, e Entry) error {
	before, err := marshal(e.Before)
	if err != nil {
		return err
	}
	after, err := marshal(e.After)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `INSERT INTO audit_events (actor_id, actor, action, ticket_id, user_id, address, before, after)
		VALUES (NULLIF($1, 0), $2, $3, NULLIF($4, 0), NULLIF($5, 0), $6, $7, $8)`,
		a.ID, a.Name, e.Action, e.TicketID, e.UserID, a.Address, before, after)
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

// Filter narrows List.
type Filter struct {
	TicketID int64
	Action   string // prefix, e.g. "user." or "ticket.approved"
	BeforeID int64  // keyset pagination: events older than this id
	Actor    string // exactly this actor (an email, or a system name); empty: any
	Limit    int    // 0 means 100
}

// List returns events newest first.
func List(ctx context.Context, db DB, f Filter) ([]Event, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := db.Query(ctx, `SELECT id, created_at, coalesce(actor_id, 0), actor, action,
			coalesce(ticket_id, 0), coalesce(user_id, 0), address, before, after
		FROM audit_events
		WHERE ($1 = 0 OR ticket_id = $1) AND ($2 = '' OR action LIKE $2 || '%') AND ($3 = 0 OR id < $3)
			AND ($5 = '' OR actor = $5)
		ORDER BY id DESC LIMIT $4`, f.TicketID, f.Action, f.BeforeID, limit, f.Actor)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.At, &e.ActorID, &e.Actor, &e.Action, &e.TicketID, &e.UserID, &e.Address, &e.Before, &e.After)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return evs, nil
}

func marshal(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: marshal: %w", err)
	}
	return b, nil
}
