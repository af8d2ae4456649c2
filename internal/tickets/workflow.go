package tickets

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/snapshots"
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
	if !reflect.ValueOf(t.Options).IsZero() {
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
	// SnapshotID, when set, is the snapshot the request names exactly (the
	// project page's "Request a restore"): it is suggested on the ticket
	// instead of the one the requested time resolves to. It must belong to
	// the project and be usable.
	SnapshotID int64
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
	if n.SnapshotID != 0 {
		if cat == nil {
			return Ticket{}, fmt.Errorf("create ticket: a snapshot is named but no catalog is given")
		}
		snap, err := cat.SnapshotGet(ctx, n.SnapshotID)
		switch {
		case err != nil && !errors.Is(err, snapshots.ErrNotFound):
			return Ticket{}, fmt.Errorf("create ticket: snapshot %d: %w", n.SnapshotID, err)
		case err != nil || snap.ProjectRef != t.ProjectRef:
			return Ticket{}, &ValidationError{Field: "snapshot_id", Msg: fmt.Sprintf("project %s has no snapshot %d", t.ProjectRef, n.SnapshotID)}
		case !snap.Usable:
			return Ticket{}, &ValidationError{Field: "snapshot_id", Msg: fmt.Sprintf("the snapshot of %s cannot be restored: %s",
				snap.TakenAt.UTC().Format(time.DateTime), cmpOr(snap.Reason, "it is not verified"))}
		}
		t.SnapshotID = snap.ID
	} else if cat != nil && t.RequestedAt != nil {
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
// ticket ready. The actor becomes its preparer and is recorded as an author
// of the plan (who may never approve it). A plan awaiting approval is not
// changed by saving the triage: Withdraw it first.
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
	if p.Options, err = validateUndelete(mode, scope, p.Options); err != nil {
		return Ticket{}, err
	}
	return change(ctx, db, a, id, "ticket.prepared", func(tx pgx.Tx, t *Ticket) error {
		if snap.ProjectRef != t.ProjectRef {
			return &ValidationError{Field: "snapshot_id", Msg: fmt.Sprintf("snapshot %d is of project %s, not %s", snap.ID, snap.ProjectRef, t.ProjectRef)}
		}
		if t.State == StateAwaitingApproval {
			return &ConflictError{&ValidationError{Field: "state", Msg: "approval is pending, so the plan cannot be changed by saving the triage; " +
				"use \"Withdraw and edit\" first (the approver then has to approve the new plan)"}}
		}
		t.SnapshotID, t.Scope, t.Mode, t.Options = p.SnapshotID, scope, mode, p.Options
		t.PreparedBy, t.ApprovedBy = a.UserID, 0
		if err := checkTarget(ctx, tx, clusterFor(ctx, cat, t.ProjectRef), *t); err != nil {
			return err
		}
		if t.State != StateReady {
			if err := moveTo(t, StateReady); err != nil {
				return err
			}
		}
		_, err := planInsert(ctx, tx, t.ID, planPrepared, PlanOf(*t, snap), a.UserID)
		return err
	})
}

// Submit asks for approval of a prepared destructive restore: the plan last
// prepared, which the ticket must still hold. The submitter vouches for it
// and, like its preparers, may not approve it.
func Submit(ctx context.Context, db DB, a Actor, id int64) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "asking for approval"); err != nil {
		return Ticket{}, err
	}
	return change(ctx, db, a, id, "ticket.submitted", func(tx pgx.Tx, t *Ticket) error {
		if !t.Destructive() {
			return &ValidationError{Field: "mode", Msg: "a new-project restore needs no approval; start it"}
		}
		if err := moveTo(t, StateAwaitingApproval); err != nil {
			return err
		}
		prep, err := planLatest(ctx, tx, t.ID, planPrepared)
		if errors.Is(err, ErrNotFound) {
			return &ValidationError{Field: "state", Msg: "save the triage first: there is no prepared plan to approve"}
		}
		if err != nil {
			return err
		}
		cur := PlanOf(*t, Snapshot{ID: prep.Plan.SnapshotID, Key: prep.Plan.SnapshotKey, ETag: prep.Plan.SnapshotETag, SizeBytes: prep.Plan.SnapshotSize})
		if cur.Digest() != prep.Digest {
			return &ValidationError{Field: "state", Msg: "the ticket no longer holds the plan last prepared; save the triage again"}
		}
		t.PreparedBy = a.UserID
		_, err = planInsert(ctx, tx, t.ID, planSubmitted, prep.Plan, a.UserID)
		return err
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

// Approve approves the ticket's current plan, whatever it is.
//
// Deprecated: it cannot know which plan the approver saw. Handlers and the
// API use ApprovePlan with the digest the approver was shown; Approve is for
// tests and tools that just read the plan themselves.
func Approve(ctx context.Context, db DB, jobs JobInserter, a Actor, id int64, confirmRef string) (Ticket, error) {
	sdb, ok := db.(snapshots.DB)
	if !ok {
		return Ticket{}, fmt.Errorf("approve ticket %d: the database handle cannot read the snapshot catalog", id)
	}
	cat := SnapshotCatalog(sdb)
	t, err := TicketGet(ctx, db, id)
	if err != nil {
		return Ticket{}, err
	}
	digest := ""
	if p, err := CurrentPlan(ctx, cat, t); err == nil {
		digest = p.Digest()
	}
	return ApprovePlan(ctx, db, cat, jobs, a, id, Approval{ConfirmRef: confirmRef, PlanDigest: digest})
}

// CurrentPlan is the plan the ticket holds now, with the snapshot object as
// the catalog knows it now.
func CurrentPlan(ctx context.Context, cat Catalog, t Ticket) (Plan, error) {
	if t.SnapshotID == 0 {
		return Plan{}, &ValidationError{Field: "snapshot_id", Msg: "no snapshot is chosen"}
	}
	snap, err := cat.SnapshotGet(ctx, t.SnapshotID)
	if err != nil {
		return Plan{}, fmt.Errorf("snapshot %d of ticket %d: %w", t.SnapshotID, t.ID, err)
	}
	return PlanOf(t, snap), nil
}

// refuseEditor refuses approver a a decision on t if a prepared the restore
// or prepared or submitted a version of its plan; must says what another
// approver must do instead ("approve it").
func refuseEditor(ctx context.Context, tx pgx.Tx, t *Ticket, a Actor, must string) error {
	if t.PreparedBy == a.UserID {
		return &PermissionError{Msg: "you prepared this restore; another approver must " + must}
	}
	editor, err := planIsEditor(ctx, tx, t.ID, a.UserID)
	if err != nil {
		return err
	}
	if editor {
		return &PermissionError{Msg: "you prepared or submitted a version of this plan; another approver must " + must}
	}
	return nil
}

// ApprovePlan approves a destructive restore and queues it. The approver
// must hold the approver role, must never have prepared or submitted any
// version of the ticket's plan, must approve the plan the ticket holds now
// (ap.PlanDigest is the digest of the plan they were shown, which must also
// be the one submitted, with the snapshot object unchanged in the catalog),
// within the approval TTL of its submission, and must type the project ref.
// The approval (bound to the digest), the state change and the River job
// commit together. A request older than the TTL lapses: the ticket goes
// back to ready (audited) and ErrApprovalLapsed is returned.
func ApprovePlan(ctx context.Context, db DB, cat Catalog, jobs JobInserter, a Actor, id int64, ap Approval) (Ticket, error) {
	if err := a.require(auth.RoleApprover, "approving a restore"); err != nil {
		return Ticket{}, err
	}
	if cat == nil {
		return Ticket{}, fmt.Errorf("approve ticket %d: no snapshot catalog", id)
	}
	ttl := cmpOr(ap.TTL, DefaultApprovalTTL)
	var lapsedSubmission int64
	t, err := change(ctx, db, a, id, "ticket.approved", func(tx pgx.Tx, t *Ticket) error {
		if err := CheckTransition(t.State, StateQueued); err != nil || t.State != StateAwaitingApproval {
			return &TransitionError{From: t.State, To: StateQueued}
		}
		if err := refuseEditor(ctx, tx, t, a, "approve it"); err != nil {
			return err
		}
		sub, err := planLatest(ctx, tx, t.ID, planSubmitted)
		if errors.Is(err, ErrNotFound) {
			return &PlanChangedError{}
		}
		if err != nil {
			return err
		}
		if time.Since(sub.CreatedAt) > ttl {
			lapsedSubmission = sub.ID
			return ErrApprovalLapsed
		}
		cur, err := CurrentPlan(ctx, cat, *t)
		if err != nil {
			return err
		}
		if ap.PlanDigest != cur.Digest() || cur.Digest() != sub.Digest {
			pe := &PlanChangedError{Current: cur}
			from := sub.Plan
			if old, err := planByDigest(ctx, tx, t.ID, ap.PlanDigest); err == nil {
				from = old.Plan
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			pe.Changes = cur.Changes(from)
			return pe
		}
		if strings.TrimSpace(ap.ConfirmRef) != t.ProjectRef {
			return &ValidationError{Field: "confirm_ref", Msg: fmt.Sprintf("type the project ref %s exactly to confirm", t.ProjectRef)}
		}
		if err := approvalInsert(ctx, tx, t.ID, a.UserID, t.ProjectRef, "restore", cur.Digest()); err != nil {
			return err
		}
		t.ApprovedBy = a.UserID
		t.State = StateQueued
		return queue(ctx, tx, jobs, t)
	})
	if errors.Is(err, ErrApprovalLapsed) {
		if _, lerr := lapse(ctx, db, SystemActor("approval-ttl"), id, lapsedSubmission,
			fmt.Sprintf("not approved within %s of its submission", ttl)); lerr != nil {
			return Ticket{}, lerr
		}
	}
	return t, err
}

// LapseApproval withdraws a pending approval request explicitly (for
// example when a proposal that changes the plan is accepted): the ticket goes
// back to ready, with the reason on its thread and an "approval.lapsed"
// event. A ticket not awaiting approval is returned unchanged.
func LapseApproval(ctx context.Context, db DB, a Actor, id int64, reason string) (Ticket, error) {
	return lapse(ctx, db, a, id, 0, reason)
}

// LapseExpired lapses every approval request submitted longer than ttl ago
// (0: DefaultApprovalTTL) and returns how many it lapsed. The ticket page
// and approvals call it for their ticket; a periodic job may call it for all.
func LapseExpired(ctx context.Context, db DB, ttl time.Duration) (int, error) {
	ttl = cmpOr(ttl, DefaultApprovalTTL)
	ids, err := submittedAwaiting(ctx, db, ttl)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		t, err := lapseIfOlder(ctx, db, id, ttl)
		if err != nil {
			return n, err
		}
		if t {
			n++
		}
	}
	return n, nil
}

// LapseIfExpired lapses the ticket's approval request when it is older than
// ttl (0: DefaultApprovalTTL) and says whether it did.
func LapseIfExpired(ctx context.Context, db DB, id int64, ttl time.Duration) (bool, error) {
	return lapseIfOlder(ctx, db, id, cmpOr(ttl, DefaultApprovalTTL))
}

func lapseIfOlder(ctx context.Context, db DB, id int64, ttl time.Duration) (bool, error) {
	t, err := TicketGet(ctx, db, id)
	if err != nil || t.State != StateAwaitingApproval {
		return false, err
	}
	sub, err := planLatest(ctx, db, id, planSubmitted)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if err == nil && time.Since(sub.CreatedAt) <= ttl {
		return false, nil
	}
	after, err := lapse(ctx, db, SystemActor("approval-ttl"), id, sub.ID, fmt.Sprintf("not approved within %s of its submission", ttl))
	return err == nil && after.State == StateReady, err
}

// lapse moves a ticket awaiting approval back to ready. submission, when not
// 0, must still be the latest submission (a newer one is not lapsed).
func lapse(ctx context.Context, db DB, a Actor, id, submission int64, reason string) (Ticket, error) {
	reason = strings.TrimSpace(reason)
	t, err := change(ctx, db, a, id, "approval.lapsed", func(tx pgx.Tx, t *Ticket) error {
		if t.State != StateAwaitingApproval {
			return errUnchanged
		}
		if submission != 0 {
			if sub, err := planLatest(ctx, tx, t.ID, planSubmitted); err == nil && sub.ID != submission {
				return errUnchanged
			}
		}
		if err := moveTo(t, StateReady); err != nil {
			return err
		}
		t.ApprovedBy = 0
		_, err := entryInsert(ctx, tx, Entry{TicketID: t.ID, Kind: EntrySystem, AuthorID: a.UserID,
			Subject: "Approval request lapsed", Body: cmpOr(reason, "the approval request was withdrawn") + "; submit the plan again for approval."})
		return err
	})
	if errors.Is(err, errUnchanged) {
		return TicketGet(ctx, db, id)
	}
	return t, err
}

// errUnchanged ends a change that has nothing to do, writing nothing.
var errUnchanged = errors.New("unchanged")

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
		from := t.State
		if err := moveTo(t, to); err != nil {
			return err
		}
		if to == StateCancelled {
			if err := releaseCancelledJob(ctx, tx, from, t.JobID); err != nil {
				return err
			}
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

// RequestRollback requests the rollback of the ticket's current result.
//
// Deprecated: it cannot know which rollback the approver saw; handlers and
// the API use RequestRollbackPlan with the digest the approver was shown.
func RequestRollback(ctx context.Context, db DB, jobs JobInserter, a Actor, id int64, confirmRef string) (Ticket, error) {
	t, err := TicketGet(ctx, db, id)
	if err != nil {
		return Ticket{}, err
	}
	p, err := CurrentRollbackPlan(ctx, db, t)
	if err != nil {
		return Ticket{}, err
	}
	return RequestRollbackPlan(ctx, db, jobs, a, id, Approval{ConfirmRef: confirmRef, PlanDigest: p.Digest()})
}

// CurrentRollbackPlan is what a rollback of t would put back now.
func CurrentRollbackPlan(ctx context.Context, db DB, t Ticket) (RollbackPlan, error) {
	digest := ""
	if sub, err := planLatest(ctx, db, t.ID, planSubmitted); err == nil {
		digest = sub.Digest
	} else if prep, err2 := planLatest(ctx, db, t.ID, planPrepared); err2 == nil {
		digest = prep.Digest
	} else if !errors.Is(err, ErrNotFound) {
		return RollbackPlan{}, err
	}
	return RollbackPlanOf(t, digest), nil
}

// RequestRollbackPlan queues the rollback of a succeeded restore, putting
// back what the restore kept (the replaced database or tables), with the job
// inserted in the same transaction. Like approval, it needs an approver who
// never prepared or submitted a version of the ticket's plan, who types the
// project ref, and whose ap.PlanDigest is the digest of the rollback plan
// (RollbackPlan) they were shown; the approval row records it.
func RequestRollbackPlan(ctx context.Context, db DB, jobs JobInserter, a Actor, id int64, ap Approval) (Ticket, error) {
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
		if err := CheckRollbackOrder(ctx, tx, *t); err != nil {
			var ne *NewerRestoreError
			if errors.As(err, &ne) {
				return &ValidationError{Field: "rollback", Msg: ne.Error()}
			}
			return err
		}
		editor, err := planIsEditor(ctx, tx, t.ID, a.UserID)
		if err != nil {
			return err
		}
		if editor || t.PreparedBy == a.UserID {
			return &PermissionError{Msg: "you prepared or submitted a version of this restore's plan; another approver must roll it back"}
		}
		cur, err := CurrentRollbackPlan(ctx, tx, *t)
		if err != nil {
			return err
		}
		if ap.PlanDigest != cur.Digest() {
			return &PlanChangedError{}
		}
		if strings.TrimSpace(ap.ConfirmRef) != t.ProjectRef {
			return &ValidationError{Field: "confirm_ref", Msg: fmt.Sprintf("type the project ref %s exactly to confirm", t.ProjectRef)}
		}
		if err := approvalInsert(ctx, tx, t.ID, a.UserID, t.ProjectRef, "rollback", cur.Digest()); err != nil {
			return err
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
