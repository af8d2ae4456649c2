package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// SQL of the tickets package. Nothing else in the portal writes these tables.

// DB is a pool, a connection or a transaction.
type DB = dbx.DBTX

const ticketColumns = `t.id, t.source, t.subject, t.requester_email, t.requester_name, t.project_ref, t.requested_at,
	t.requested_tz, coalesce(t.snapshot_id, 0), t.scope_kind, t.scope_tables, t.mode, t.options, t.state,
	coalesce(t.assignee_id, 0), coalesce(t.created_by, 0), coalesce(t.prepared_by, 0), coalesce(t.approved_by, 0),
	coalesce(pu.email, ''), coalesce(au.email, ''), coalesce(asu.email, ''),
	coalesce(t.job_id, 0), coalesce(t.rollback_job_id, 0), t.progress, t.result, t.created_at, t.updated_at`

const ticketFrom = ` FROM tickets t
	LEFT JOIN users pu ON pu.id = t.prepared_by
	LEFT JOIN users au ON au.id = t.approved_by
	LEFT JOIN users asu ON asu.id = t.assignee_id`

func scanTicket(r pgx.Row) (Ticket, error) {
	var t Ticket
	var opts, progress, result []byte
	err := r.Scan(&t.ID, &t.Source, &t.Subject, &t.RequesterEmail, &t.RequesterName, &t.ProjectRef, &t.RequestedAt,
		&t.RequestedTZ, &t.SnapshotID, &t.Scope.Kind, &t.Scope.Tables, &t.Mode, &opts, &t.State,
		&t.AssigneeID, &t.CreatedBy, &t.PreparedBy, &t.ApprovedBy,
		&t.PreparedByName, &t.ApprovedByName, &t.AssigneeName,
		&t.JobID, &t.RollbackJobID, &progress, &result, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return Ticket{}, dbx.InterpretError(err, ErrNotFound)
	}
	if len(opts) > 0 {
		if err := json.Unmarshal(opts, &t.Options); err != nil {
			return Ticket{}, fmt.Errorf("ticket %d options: %w", t.ID, err)
		}
	}
	if len(progress) > 0 {
		t.Progress = new(Progress)
		if err := json.Unmarshal(progress, t.Progress); err != nil {
			return Ticket{}, fmt.Errorf("ticket %d progress: %w", t.ID, err)
		}
	}
	if len(result) > 0 {
		t.Result = new(Result)
		if err := json.Unmarshal(result, t.Result); err != nil {
			return Ticket{}, fmt.Errorf("ticket %d result: %w", t.ID, err)
		}
	}
	return t, nil
}

// TicketGet returns one ticket.
func TicketGet(ctx context.Context, db DB, id int64) (Ticket, error) {
	t, err := scanTicket(db.QueryRow(ctx, `SELECT `+ticketColumns+ticketFrom+` WHERE t.id = $1`, id))
	if err != nil {
		return Ticket{}, fmt.Errorf("ticket %d: %w", id, err)
	}
	return t, nil
}

// ticketGetForUpdate locks the ticket row for the rest of the transaction.
func ticketGetForUpdate(ctx context.Context, tx pgx.Tx, id int64) (Ticket, error) {
	t, err := scanTicket(tx.QueryRow(ctx, `SELECT `+ticketColumns+ticketFrom+` WHERE t.id = $1 FOR UPDATE OF t`, id))
	if err != nil {
		return Ticket{}, fmt.Errorf("ticket %d: %w", id, err)
	}
	return t, nil
}

// ticketTouch moves the ticket's updated_at to now (a new thread entry).
func ticketTouch(ctx context.Context, tx pgx.Tx, id int64) error {
	_, err := tx.Exec(ctx, `UPDATE tickets SET updated_at = now() WHERE id = $1`, id)
	return err
}

func ticketInsert(ctx context.Context, tx pgx.Tx, t Ticket) (int64, error) {
	opts, err := json.Marshal(t.Options)
	if err != nil {
		return 0, err
	}
	tables := t.Scope.Tables
	if tables == nil {
		tables = []string{}
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO tickets (source, subject, requester_email, requester_name, project_ref,
			requested_at, requested_tz, snapshot_id, scope_kind, scope_tables, mode, options, state, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, 0), $9, $10, $11, $12, $13, NULLIF($14, 0)) RETURNING id`,
		t.Source, t.Subject, t.RequesterEmail, t.RequesterName, t.ProjectRef, t.RequestedAt, t.RequestedTZ,
		t.SnapshotID, t.Scope.Kind, tables, t.Mode, opts, t.State, t.CreatedBy).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert ticket: %w", err)
	}
	return id, nil
}

// ticketUpdate writes every mutable column of t.
func ticketUpdate(ctx context.Context, tx pgx.Tx, t Ticket) error {
	opts, err := json.Marshal(t.Options)
	if err != nil {
		return err
	}
	var progress, result []byte
	if t.Progress != nil {
		if progress, err = json.Marshal(t.Progress); err != nil {
			return err
		}
	}
	if t.Result != nil {
		if result, err = json.Marshal(t.Result); err != nil {
			return err
		}
	}
	tables := t.Scope.Tables
	if tables == nil {
		tables = []string{}
	}
	_, err = tx.Exec(ctx, `UPDATE tickets SET subject = $2, requester_email = $3, requester_name = $4, project_ref = $20,
			requested_at = $5, requested_tz = $6, snapshot_id = NULLIF($7, 0), scope_kind = $8, scope_tables = $9,
			mode = $10, options = $11, state = $12, assignee_id = NULLIF($13, 0), prepared_by = NULLIF($14, 0),
			approved_by = NULLIF($15, 0), job_id = NULLIF($16, 0), rollback_job_id = NULLIF($17, 0),
			progress = $18, result = $19, updated_at = now()
		WHERE id = $1`,
		t.ID, t.Subject, t.RequesterEmail, t.RequesterName, t.RequestedAt, t.RequestedTZ, t.SnapshotID, t.Scope.Kind,
		tables, t.Mode, opts, t.State, t.AssigneeID, t.PreparedBy, t.ApprovedBy, t.JobID, t.RollbackJobID,
		progress, result, t.ProjectRef)
	if err != nil {
		return fmt.Errorf("update ticket %d: %w", t.ID, err)
	}
	return nil
}

// ticketSetProgress writes progress only while the ticket runs; it reports
// whether it did.
func ticketSetProgress(ctx context.Context, db DB, id int64, p Progress) (bool, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	tag, err := db.Exec(ctx, `UPDATE tickets SET progress = $2, updated_at = now() WHERE id = $1 AND state = 'running'`, id, b)
	if err != nil {
		return false, fmt.Errorf("ticket %d progress: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Filter narrows TicketList.
type Filter struct {
	State      State
	ProjectRef string
	Requester  string
	Query      string // matches subject, requester, project ref or "#id"
	Page       int    // 1-based
	PerPage    int    // 0 means 50
	// SkipTotal leaves ListPage.Total zero, saving the count when the caller
	// knows it (the dashboard has the counts by state).
	SkipTotal bool
}

// ListPage is one page of tickets and the count of all that match.
type ListPage struct {
	Tickets []Ticket
	Total   int
	Page    int
	PerPage int
}

// Pages is the number of pages of the result.
func (p ListPage) Pages() int {
	if p.PerPage == 0 {
		return 1
	}
	return max(1, (p.Total+p.PerPage-1)/p.PerPage)
}

// TicketList returns a page of tickets, newest first.
func TicketList(ctx context.Context, db DB, f Filter) (ListPage, error) {
	per := f.PerPage
	if per <= 0 || per > 200 {
		per = 50
	}
	page := max(f.Page, 1)
	var idq int64
	q := strings.TrimSpace(f.Query)
	if strings.HasPrefix(q, "#") {
		fmt.Sscanf(q[1:], "%d", &idq)
	}
	like := ""
	if q != "" {
		like = "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(q)) + "%"
	}
	// The search expression matches the trigram index tickets_search.
	where := ` WHERE ($1 = '' OR t.state = $1) AND ($2 = '' OR t.project_ref = $2) AND ($3 = '' OR t.requester_email = lower($3))
		AND ($4 = '' OR t.id = $5 OR lower(t.subject || ' ' || t.requester_email || ' ' || t.project_ref) LIKE $4)`
	args := []any{string(f.State), f.ProjectRef, f.Requester, like, idq}
	var total int
	switch {
	case f.SkipTotal:
	case f.ProjectRef == "" && f.Requester == "" && like == "":
		// Unfiltered, or by state only: the kept counts answer.
		if err := db.QueryRow(ctx, `SELECT coalesce(sum(n), 0) FROM ticket_state_counts WHERE $1 = '' OR state = $1`,
			string(f.State)).Scan(&total); err != nil {
			return ListPage{}, fmt.Errorf("count tickets: %w", err)
		}
	default:
		if err := db.QueryRow(ctx, `SELECT count(*) FROM tickets t`+where, args...).Scan(&total); err != nil {
			return ListPage{}, fmt.Errorf("count tickets: %w", err)
		}
	}
	// The page's ids first (an index scan of tickets alone, however deep the
	// page), then their rows and names.
	rows, err := db.Query(ctx, `WITH page AS (SELECT t.id FROM tickets t`+where+` ORDER BY t.id DESC LIMIT $6 OFFSET $7)
		SELECT `+ticketColumns+` FROM page JOIN tickets t ON t.id = page.id
		LEFT JOIN users pu ON pu.id = t.prepared_by
		LEFT JOIN users au ON au.id = t.approved_by
		LEFT JOIN users asu ON asu.id = t.assignee_id
		ORDER BY t.id DESC`, append(args, per, (page-1)*per)...)
	if err != nil {
		return ListPage{}, fmt.Errorf("list tickets: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ticket, error) { return scanTicket(r) })
	if err != nil {
		return ListPage{}, fmt.Errorf("list tickets: %w", err)
	}
	return ListPage{Tickets: ts, Total: total, Page: page, PerPage: per}, nil
}

// TicketCountByState counts tickets per state (every state present, zero or
// not), from the counts the tickets table's trigger keeps.
func TicketCountByState(ctx context.Context, db DB) (map[State]int, error) {
	rows, err := db.Query(ctx, `SELECT state, n FROM ticket_state_counts`)
	if err != nil {
		return nil, fmt.Errorf("count tickets by state: %w", err)
	}
	out := map[State]int{}
	for _, s := range States {
		out[s] = 0
	}
	var s State
	var n int
	_, err = pgx.ForEachRow(rows, []any{&s, &n}, func() error { out[s] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("count tickets by state: %w", err)
	}
	return out, nil
}

// TicketListActive returns queued and running tickets, oldest first.
func TicketListActive(ctx context.Context, db DB) ([]Ticket, error) {
	rows, err := db.Query(ctx, `SELECT `+ticketColumns+ticketFrom+` WHERE t.state IN ('queued', 'running') ORDER BY t.id`)
	if err != nil {
		return nil, fmt.Errorf("list active tickets: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ticket, error) { return scanTicket(r) })
}

// LiveStatus is the small view of a ticket the live progress stream sends.
type LiveStatus struct {
	ID        int64     `json:"id"`
	State     State     `json:"state"`
	Progress  *Progress `json:"progress,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TicketLiveStatus returns the states and progress of the given tickets and
// of every queued or running one.
func TicketLiveStatus(ctx context.Context, db DB, ids []int64) ([]LiveStatus, error) {
	if ids == nil {
		ids = []int64{}
	}
	rows, err := db.Query(ctx, `SELECT id, state, progress, updated_at FROM tickets
		WHERE state IN ('queued', 'running') OR id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("live status: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LiveStatus, error) {
		var s LiveStatus
		var p []byte
		if err := r.Scan(&s.ID, &s.State, &p, &s.UpdatedAt); err != nil {
			return s, err
		}
		if len(p) > 0 {
			s.Progress = new(Progress)
			if err := json.Unmarshal(p, s.Progress); err != nil {
				return s, err
			}
		}
		return s, nil
	})
}

func projectExists(ctx context.Context, db DB, ref string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM projects WHERE ref = $1)`, ref).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("project %s: %w", ref, err)
	}
	return ok, nil
}

// Entry is one message of a ticket's thread.
type Entry struct {
	ID         int64
	TicketID   int64
	Kind       EntryKind
	AuthorID   int64
	AuthorName string
	From       string
	Subject    string
	Body       string
	MessageID  string // RFC 5322 Message-ID of mail, without angle brackets
	InReplyTo  string
	CreatedAt  time.Time
}

// EntryKind says what a thread entry is.
type EntryKind string

const (
	EntryMailIn  EntryKind = "mail_in"
	EntryMailOut EntryKind = "mail_out"
	EntryNote    EntryKind = "note"
	EntrySystem  EntryKind = "system"
)

func entryInsert(ctx context.Context, db DB, e Entry) (int64, error) {
	var id int64
	var msgID *string
	if e.MessageID != "" {
		msgID = &e.MessageID
	}
	err := db.QueryRow(ctx, `INSERT INTO ticket_entries (ticket_id, kind, author_id, from_addr, subject, body, message_id, in_reply_to)
		VALUES ($1, $2, NULLIF($3, 0), $4, $5, $6, $7, $8) RETURNING id`,
		e.TicketID, e.Kind, e.AuthorID, e.From, e.Subject, e.Body, msgID, e.InReplyTo).Scan(&id)
	if errors.Is(dbx.InterpretError(err, nil), dbx.ErrDuplicate) {
		return 0, ErrDuplicateMessage
	}
	if err != nil {
		return 0, fmt.Errorf("insert thread entry: %w", err)
	}
	return id, nil
}

// EntryListByTicket returns a ticket's thread, oldest first.
func EntryListByTicket(ctx context.Context, db DB, ticketID int64) ([]Entry, error) {
	rows, err := db.Query(ctx, `SELECT e.id, e.ticket_id, e.kind, coalesce(e.author_id, 0), coalesce(u.email, ''),
			e.from_addr, e.subject, e.body, coalesce(e.message_id, ''), e.in_reply_to, e.created_at
		FROM ticket_entries e LEFT JOIN users u ON u.id = e.author_id
		WHERE e.ticket_id = $1 ORDER BY e.id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("thread of ticket %d: %w", ticketID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.TicketID, &e.Kind, &e.AuthorID, &e.AuthorName, &e.From, &e.Subject, &e.Body,
			&e.MessageID, &e.InReplyTo, &e.CreatedAt)
		return e, err
	})
}

// ticketIDByMessageID finds the ticket whose thread holds one of ids.
func ticketIDByMessageID(ctx context.Context, db DB, ids []string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `SELECT ticket_id FROM ticket_entries WHERE message_id = ANY($1) ORDER BY id DESC LIMIT 1`, ids).Scan(&id)
	if err = dbx.InterpretError(err, ErrNotFound); err == ErrNotFound {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("ticket by message id: %w", err)
	}
	return id, nil
}

// Batcher sends several queries in one round trip: a pool, a conn or a tx.
type Batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Overview is what the dashboard shows.
type Overview struct {
	Counts   map[State]int
	Active   []Ticket // queued and running, oldest first
	Awaiting []Ticket // awaiting approval, newest first, at most the limit asked
}

// OverviewGet reads the dashboard's counts, active and awaiting tickets in
// one round trip.
func OverviewGet(ctx context.Context, db Batcher, awaitingLimit int) (Overview, error) {
	o := Overview{Counts: map[State]int{}}
	for _, s := range States {
		o.Counts[s] = 0
	}
	collect := func(dst *[]Ticket) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ticket, error) { return scanTicket(r) })
			*dst = ts
			return err
		}
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT state, n FROM ticket_state_counts`).Query(func(rows pgx.Rows) error {
		var s State
		var n int
		_, err := pgx.ForEachRow(rows, []any{&s, &n}, func() error { o.Counts[s] = n; return nil })
		return err
	})
	b.Queue(`SELECT ` + ticketColumns + ticketFrom + ` WHERE t.state IN ('queued', 'running') ORDER BY t.id`).Query(collect(&o.Active))
	b.Queue(`SELECT `+ticketColumns+ticketFrom+` WHERE t.state = 'awaiting_approval' ORDER BY t.id DESC LIMIT $1`, awaitingLimit).
		Query(collect(&o.Awaiting))
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return Overview{}, fmt.Errorf("dashboard: %w", err)
	}
	return o, nil
}
