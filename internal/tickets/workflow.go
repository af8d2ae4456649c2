package tickets

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
)

// change runs fn on the ticket, locked, in one transaction; then it checks
// the state change against the machine, writes the ticket and appends the
// audit event. It is the only way a ticket's state changes.
func change(ctx context.Context, db DB, a Actor, id int64, action string, fn func(tx pgx.Tx, t *Ticket) error) (Ticket, error) {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		before, err := ticketGetForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		t := before
		t.Scope.Tables = slices.Clone(before.Scope.Tables)
		if err := fn(tx, &t); err != nil {
			return err
		}
		if t.State != before.State {
			if err := CheckTransition(before.State, t.State); err != nil {
				return err
			}
		}
		if err := ticketUpdate(ctx, tx, t); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a.audit(), audit.Entry{Action: action, TicketID: id, Before: summary(before), After: summary(t)})
	})
	if err != nil {
		return Ticket{}, err
	}
	return TicketGet(ctx, db, id)
}

// moveTo sets t's state if the machine allows it.
func moveTo(t *Ticket, s State) error {
	if err := CheckTransition(t.State, s); err != nil {
		return err
	}
	t.State = s
	return nil
}

// summary is what the audit trail keeps of a ticket (not its progress).
func summary(t Ticket) map[string]any {
	m := map[string]any{"state": t.State, "project_ref": t.ProjectRef, "mode": t.Mode, "scope": t.Scope}
	if t.SnapshotID != 0 {
		m["snapshot_id"] = t.SnapshotID
	}
	if t.RequestedAt != nil {
		m["requested_at"] = t.RequestedAt.UTC()
	}
	for k, v := range map[string]int64{"assignee_id": t.AssigneeID, "prepared_by": t.PreparedBy,
		"approved_by": t.ApprovedBy, "job_id": t.JobID, "rollback_job_id": t.RollbackJobID} {
		if v != 0 {
			m[k] = v
		}
	}
	if t.Options != (Options{}) {
		m["options"] = t.Options
	}
	return m
}

// NewTicket is a request as it arrives from a form, the API or a mail.
type NewTicket struct {
	Source         Source
	Subject        string
	RequesterEmail string
	RequesterName  string
	ProjectRef     string
	RequestedAt    *time.Time
	RequestedTZ    string // IANA zone the requester meant; empty means UTC
	Scope          Scope  // zero means full
	Mode           Mode   // empty means new_project, the restore that overwrites nothing
	Options        Options
	// Note is the request's text (a staff note for portal and API tickets).
	Note string
	// Mail is the first mail of an email ticket (Kind is set to mail_in).
	Mail *Entry
}

func validateScope(s Scope) (Scope, error) {
	switch s.Kind {
	case "", ScopeFull:
		return Scope{Kind: ScopeFull}, nil
	case ScopeTables:
		var out []string
		for _, name := range s.Tables {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if !strings.Contains(name, ".") {
				name = "public." + name
			}
			if !tableName.MatchString(name) {
				return Scope{}, &ValidationError{Field: "scope", Msg: fmt.Sprintf("%q is not a table name such as public.orders", name)}
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		if len(out) == 0 {
			return Scope{}, &ValidationError{Field: "scope", Msg: "name at least one table, or choose the full database"}
		}
		if len(out) > MaxScopeTables {
			return Scope{}, &ValidationError{Field: "scope", Msg: fmt.Sprintf("%d tables named; at most %d (choose the full database instead)", len(out), MaxScopeTables)}
		}
		return Scope{Kind: ScopeTables, Tables: out}, nil
	}
	return Scope{}, &ValidationError{Field: "scope", Msg: fmt.Sprintf("%q is not full or tables", s.Kind)}
}

// Create validates and records a new ticket. When the catalog is given and
// the request names a time, the snapshot a restore to that time would use is
// suggested on the ticket (staff confirm it with Prepare).
func Create(ctx context.Context, db DB, cat Catalog, a Actor, n NewTicket) (Ticket, error) {
	if a.UserID != 0 {
		if err := a.require(auth.RoleOperator, "creating a ticket"); err != nil {
			return Ticket{}, err
		}
	}
	t := Ticket{Source: n.Source, Subject: strings.TrimSpace(n.Subject), RequesterName: strings.TrimSpace(n.RequesterName),
		ProjectRef: strings.ToLower(strings.TrimSpace(n.ProjectRef)), RequestedAt: n.RequestedAt,
		RequestedTZ: cmpOr(strings.TrimSpace(n.RequestedTZ), "UTC"), Mode: cmpOr(n.Mode, ModeNewProject),
		Options: n.Options, State: StateNew, CreatedBy: a.UserID}
	switch t.Source {
	case SourceEmail, SourcePortal, SourceAPI:
	default:
		return Ticket{}, &ValidationError{Field: "source", Msg: fmt.Sprintf("%q is not email, portal or api", n.Source)}
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(n.RequesterEmail))
	if err != nil {
		return Ticket{}, &ValidationError{Field: "requester_email", Msg: fmt.Sprintf("%q is not an email address", n.RequesterEmail)}
	}
	t.RequesterEmail = strings.ToLower(addr.Address)
	if t.RequesterName == "" {
		t.RequesterName = addr.Name
	}
	// A mail that names no project still becomes a ticket, asking for it.
	unnamed := t.ProjectRef == "" && n.Source == SourceEmail
	if !unnamed && !projectRef.MatchString(t.ProjectRef) {
		return Ticket{}, &ValidationError{Field: "project_ref", Msg: fmt.Sprintf("%q is not a project ref (lower-case letters, digits and dashes)", n.ProjectRef)}
	}
	if ok, err := projectExists(ctx, db, t.ProjectRef); err != nil {
		return Ticket{}, err
	} else if !ok && n.Source != SourceEmail {
		return Ticket{}, &ValidationError{Field: "project_ref", Msg: fmt.Sprintf("no project %q is known to the portal", t.ProjectRef)}
	}
	if _, err := time.LoadLocation(t.RequestedTZ); err != nil {
		return Ticket{}, &ValidationError{Field: "requested_tz", Msg: fmt.Sprintf("%q is not a time zone such as Europe/Berlin", t.RequestedTZ)}
	}
	if t.RequestedAt != nil && t.RequestedAt.After(time.Now().Add(5*time.Minute)) {
		return Ticket{}, &ValidationError{Field: "requested_at", Msg: "is in the future; a restore can only go back in time"}
	}
	if _, err := ParseMode(string(t.Mode)); err != nil {
		return Ticket{}, err
	}
	if err := validateOptions(t.Options); err != nil {
		return Ticket{}, err
	}
	if t.Scope, err = validateScope(n.Scope); err != nil {
		return Ticket{}, err
	}
	if t.Subject == "" {
		t.Subject = fmt.Sprintf("Restore %s", t.ProjectRef)
	}
	if cat != nil && t.RequestedAt != nil {
		if snap, ok, _, err := cat.SnapshotsNear(ctx, t.ProjectRef, *t.RequestedAt, 0); err == nil && ok && snap.Usable {
			t.SnapshotID = snap.ID
		}
	}
	var id int64
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if id, err = ticketInsert(ctx, tx, t); err != nil {
			return err
		}
		t.ID = id
		if n.Mail != nil {
			e := *n.Mail
			e.TicketID, e.Kind = id, EntryMailIn
			e.MessageID, e.InReplyTo = normalizeMessageID(e.MessageID), normalizeMessageID(e.InReplyTo)
			if _, err := entryInsert(ctx, tx, e); err != nil {
				return err
			}
		} else if note := strings.TrimSpace(n.Note); note != "" {
			if _, err := entryInsert(ctx, tx, Entry{TicketID: id, Kind: EntryNote, AuthorID: a.UserID, Body: note}); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, a.audit(), audit.Entry{Action: "ticket.created", TicketID: id, After: summary(t)})
	})
	if err != nil {
		return Ticket{}, err
	}
	return TicketGet(ctx, db, id)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Preparation is the triage of a ticket: which snapshot, what scope, which mode.
type Preparation struct {
	SnapshotID int64
	Scope      Scope
	Mode       Mode
	Options    Options
}

// Prepare checks the choice against the catalog (the snapshot belongs to the
// project and is usable; every table is in its inventory) and makes the
// ticket ready. The actor becomes its preparer; a previous approval request
// is withdrawn, since what is to be approved changed.
func Prepare(ctx context.Context, db DB, cat Catalog, a Actor, id int64, p Preparation) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "preparing a restore"); err != nil {
		return Ticket{}, err
	}
	mode, err := ParseMode(string(p.Mode))
	if err != nil {
		return Ticket{}, err
	}
	scope, err := validateScope(p.Scope)
	if err != nil {
		return Ticket{}, err
	}
	if p.SnapshotID == 0 {
		return Ticket{}, &ValidationError{Field: "snapshot_id", Msg: "choose a snapshot"}
	}
	if cat == nil {
		return Ticket{}, fmt.Errorf("prepare ticket %d: no snapshot catalog", id)
	}
	snap, err := cat.SnapshotGet(ctx, p.SnapshotID)
	if err != nil {
		return Ticket{}, &ValidationError{Field: "snapshot_id", Msg: fmt.Sprintf("snapshot %d: %v", p.SnapshotID, err)}
	}
	if !snap.Usable {
		return Ticket{}, &ValidationError{Field: "snapshot_id", Msg: fmt.Sprintf("snapshot of %s cannot be restored: %s",
			snap.TakenAt.UTC().Format(time.DateTime), cmpOr(snap.Reason, "it is not verified"))}
	}
	if scope.Kind == ScopeTables {
		inv, err := cat.SnapshotTables(ctx, p.SnapshotID)
		if err != nil {
			return Ticket{}, fmt.Errorf("inventory of snapshot %d: %w", p.SnapshotID, err)
		}
		have := map[string]bool{}
		for _, tb := range inv {
			have[tb.QualifiedName()] = true
		}
		for _, name := range scope.Tables {
			if !have[name] && !have[strings.ReplaceAll(name, `"`, "")] {
				return Ticket{}, &ValidationError{Field: "scope", Msg: fmt.Sprintf("table %s is not in the snapshot", name)}
			}
		}
	}
	if err := validateOptions(p.Options); err != nil {
		return Ticket{}, err
	}
	return change(ctx, db, a, id, "ticket.prepared", func(tx pgx.Tx, t *Ticket) error {
		if snap.ProjectRef != t.ProjectRef {
			return &ValidationError{Field: "snapshot_id", Msg: fmt.Sprintf("snapshot %d is of project %s, not %s", snap.ID, snap.ProjectRef, t.ProjectRef)}
		}
		t.SnapshotID, t.Scope, t.Mode, t.Options = p.SnapshotID, scope, mode, p.Options
		t.PreparedBy, t.ApprovedBy = a.UserID, 0
		if err := checkTarget(ctx, tx, clusterOf(cat), *t); err != nil {
			return err
		}
		if t.State != StateReady {
			return moveTo(t, StateReady)
		}
		return nil
	})
}

// Submit asks for approval of a prepared destructive restore.
func Submit(ctx context.Context, db DB, a Actor, id int64) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "asking for approval"); err != nil {
		return Ticket{}, err
	}
	return change(ctx, db, a, id, "ticket.submitted", func(tx pgx.Tx, t *Ticket) error {
		if !t.Destructive() {
			return &ValidationError{Field: "mode", Msg: "a new-project restore needs no approval; start it"}
		}
		t.PreparedBy = a.UserID
		return moveTo(t, StateAwaitingApproval)
	})
}

// Start queues a prepared new-project restore (it overwrites nothing, so an
// operator may start it), inserting the restore job in the same transaction.
func Start(ctx context.Context, db DB, jobs JobInserter, a Actor, id int64) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "starting a restore"); err != nil {
		return Ticket{}, err
	}
	return change(ctx, db, a, id, "restore.queued", func(tx pgx.Tx, t *Ticket) error {
		if t.Destructive() {
			return &PermissionError{Msg: "a destructive restore needs an approver's approval; ask for approval"}
		}
		if err := moveTo(t, StateQueued); err != nil {
			return err
		}
		return queue(ctx, tx, jobs, t)
	})
}

func queue(ctx context.Context, tx pgx.Tx, jobs JobInserter, t *Ticket) error {
	jobID, err := insertJob(ctx, jobs, tx, RestoreArgs{TicketID: t.ID, ProjectRef: t.ProjectRef, SnapshotID: t.SnapshotID, Mode: t.Mode})
	if err != nil {
		return err
	}
	t.JobID, t.Progress, t.Result = jobID, &Progress{Phase: "queued", UpdatedAt: time.Now()}, nil
	return nil
}

// Approve approves a destructive restore and queues it: the approver must
// hold the approver role, must not be the one who prepared it, and must type
// the project ref to confirm. The approval, the state change and the River
// job commit together.
func Approve(ctx context.Context, db DB, jobs JobInserter, a Actor, id int64, confirmRef string) (Ticket, error) {
	if err := a.require(auth.RoleApprover, "approving a restore"); err != nil {
		return Ticket{}, err
	}
	return change(ctx, db, a, id, "ticket.approved", func(tx pgx.Tx, t *Ticket) error {
		if err := CheckTransition(t.State, StateQueued); err != nil || t.State != StateAwaitingApproval {
			return &TransitionError{From: t.State, To: StateQueued}
		}
		if t.PreparedBy == a.UserID {
			return &PermissionError{Msg: "you prepared this restore; another approver must approve it"}
		}
		if strings.TrimSpace(confirmRef) != t.ProjectRef {
			return &ValidationError{Field: "confirm_ref", Msg: fmt.Sprintf("type the project ref %s exactly to confirm", t.ProjectRef)}
		}
		if err := approvalInsert(ctx, tx, t.ID, a.UserID, t.ProjectRef); err != nil {
			return err
		}
		t.ApprovedBy = a.UserID
		t.State = StateQueued
		return queue(ctx, tx, jobs, t)
	})
}

// AskForInfo puts the ticket on hold until the requester answers; message
// goes to the thread.
func AskForInfo(ctx context.Context, db DB, a Actor, id int64, message string) (Ticket, error) {
	return decide(ctx, db, a, id, StateNeedsInfo, "ticket.needs_info", message)
}

// Reject refuses the request, with a reason for the thread.
func Reject(ctx context.Context, db DB, a Actor, id int64, reason string) (Ticket, error) {
	return decide(ctx, db, a, id, StateRejected, "ticket.rejected", reason)
}

// Cancel withdraws a ticket at any moment before the cut-over. A worker that
// picks up the job of a cancelled ticket finds MarkRunning refused and stops;
// a running restore sees its progress refused, stops and removes its staging
// database. The cut-over itself (PhaseCutover) cannot be cancelled.
func Cancel(ctx context.Context, db DB, a Actor, id int64, reason string) (Ticket, error) {
	return decide(ctx, db, a, id, StateCancelled, "ticket.cancelled", reason)
}

// Withdraw takes a ticket awaiting approval back to ready, for changes.
func Withdraw(ctx context.Context, db DB, a Actor, id int64) (Ticket, error) {
	return decide(ctx, db, a, id, StateReady, "ticket.withdrawn", "")
}

// Retry makes a failed ticket ready again, to be started or approved anew.
func Retry(ctx context.Context, db DB, a Actor, id int64) (Ticket, error) {
	return decide(ctx, db, a, id, StateReady, "ticket.retry", "")
}

func decide(ctx context.Context, db DB, a Actor, id int64, to State, action, text string) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "changing a ticket"); err != nil {
		return Ticket{}, err
	}
	text = strings.TrimSpace(text)
	if text == "" && (to == StateRejected || to == StateNeedsInfo) {
		return Ticket{}, &ValidationError{Field: "message", Msg: "say why, for the requester and the trail"}
	}
	return change(ctx, db, a, id, action, func(tx pgx.Tx, t *Ticket) error {
		if to == StateCancelled && t.State == StateRunning && t.Progress != nil && t.Progress.Phase == PhaseCutover {
			return &ValidationError{Field: "cancel", Msg: "the restore is in its cut-over, which is short and cannot be cancelled; wait for it to end, then roll back if needed"}
		}
		if to == StateReady && t.State != StateAwaitingApproval && t.State != StateFailed {
			return &TransitionError{From: t.State, To: to}
		}
		if err := moveTo(t, to); err != nil {
			return err
		}
		if to == StateReady {
			t.ApprovedBy = 0
		}
		if text != "" {
			_, err := entryInsert(ctx, tx, Entry{TicketID: t.ID, Kind: EntryNote, AuthorID: a.UserID,
				Subject: to.Label(), Body: text})
			return err
		}
		return nil
	})
}

// Assign makes userID (0: nobody) the ticket's assignee.
func Assign(ctx context.Context, db DB, a Actor, id, userID int64) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "assigning a ticket"); err != nil {
		return Ticket{}, err
	}
	return change(ctx, db, a, id, "ticket.assigned", func(tx pgx.Tx, t *Ticket) error {
		t.AssigneeID = userID
		return nil
	})
}

// RequestRollback queues the rollback of a succeeded restore, putting back
// what the restore kept (the replaced database or tables), with the job
// inserted in the same transaction. Like approval, it needs an approver who
// types the project ref.
func RequestRollback(ctx context.Context, db DB, jobs JobInserter, a Actor, id int64, confirmRef string) (Ticket, error) {
	if err := a.require(auth.RoleApprover, "rolling back a restore"); err != nil {
		return Ticket{}, err
	}
	return change(ctx, db, a, id, "restore.rollback_requested", func(tx pgx.Tx, t *Ticket) error {
		if err := CheckTransition(t.State, StateRolledBack); err != nil {
			return err
		}
		if t.RollbackJobID != 0 {
			return &ValidationError{Field: "rollback", Msg: "a rollback is already queued"}
		}
		if !t.Result.Rollbackable(time.Now()) {
			return &ValidationError{Field: "rollback", Msg: "nothing is kept to roll back to (the kept copy expired or was never made)"}
		}
		if strings.TrimSpace(confirmRef) != t.ProjectRef {
			return &ValidationError{Field: "confirm_ref", Msg: fmt.Sprintf("type the project ref %s exactly to confirm", t.ProjectRef)}
		}
		jobID, err := insertJob(ctx, jobs, tx, RollbackArgs{TicketID: t.ID, ProjectRef: t.ProjectRef})
		if err != nil {
			return err
		}
		t.RollbackJobID = jobID
		t.Result.RollbackError = ""
		return nil
	})
}
