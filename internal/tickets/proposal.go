package tickets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
)

// Proposal is a change of a ticket's request or plan that a mail asked for
// but that mail may not make: the ticket was prepared or approved already,
// the sender is not the requester, or the mail failed DMARC. Staff accept it
// (applied as their own edit) or dismiss it. Mail proposes; only staff
// change a plan.
type Proposal struct {
	ID          int64
	TicketID    int64
	EntryID     int64 // the mail_in entry of the mail
	From        string
	Reason      string // why the mail did not change the ticket itself
	AuthResults string // the receiving server's SPF/DKIM/DMARC verdicts
	// The proposed values; zero values are not part of the proposal.
	ProjectRef  string
	RequestedAt *time.Time
	RequestedTZ string
	Scope       *Scope
	Mode        Mode
	// Before is the ticket as it was when the mail came.
	Before    PlanFields
	Status    string // open, accepted, dismissed
	DecidedBy int64
	DecidedAt *time.Time
	CreatedAt time.Time
}

// PlanFields are the parts of a ticket a mail may ask to change.
type PlanFields struct {
	ProjectRef  string     `json:"project_ref"`
	RequestedAt *time.Time `json:"requested_at,omitempty"`
	RequestedTZ string     `json:"requested_tz,omitempty"`
	Scope       Scope      `json:"scope"`
	Mode        Mode       `json:"mode"`
	State       State      `json:"state"`
	SnapshotID  int64      `json:"snapshot_id,omitempty"`
}

func planOf(t Ticket) PlanFields {
	return PlanFields{ProjectRef: t.ProjectRef, RequestedAt: t.RequestedAt, RequestedTZ: t.RequestedTZ, Scope: t.Scope,
		Mode: t.Mode, State: t.State, SnapshotID: t.SnapshotID}
}

// Proposal statuses.
const (
	ProposalOpen      = "open"
	ProposalAccepted  = "accepted"
	ProposalDismissed = "dismissed"
)

// FieldChange is one line of a proposal's diff.
type FieldChange struct {
	Field  string // "project", "time", "scope", "mode"
	Before string
	After  string
}

// Diff lists the fields the proposal changes, against the ticket as it was
// when the mail came.
func (p Proposal) Diff() []FieldChange {
	return diff(p.Before, p)
}

func diff(b PlanFields, p Proposal) []FieldChange {
	var out []FieldChange
	if p.ProjectRef != "" && p.ProjectRef != b.ProjectRef {
		out = append(out, FieldChange{"project", b.ProjectRef, p.ProjectRef})
	}
	if p.RequestedAt != nil && (b.RequestedAt == nil || !b.RequestedAt.Equal(*p.RequestedAt)) {
		out = append(out, FieldChange{"time", formatAt(b.RequestedAt, b.RequestedTZ), formatAt(p.RequestedAt, p.RequestedTZ)})
	}
	if p.Scope != nil && scopeText(*p.Scope) != scopeText(b.Scope) {
		out = append(out, FieldChange{"scope", scopeText(b.Scope), scopeText(*p.Scope)})
	}
	if p.Mode != "" && p.Mode != b.Mode {
		out = append(out, FieldChange{"mode", string(b.Mode), string(p.Mode)})
	}
	return out
}

func formatAt(at *time.Time, tz string) string {
	if at == nil {
		return ""
	}
	t := at.UTC()
	if loc, err := time.LoadLocation(tz); err == nil && tz != "" && tz != "UTC" {
		return t.In(loc).Format("2006-01-02 15:04 MST") + " (" + t.Format("15:04 UTC") + ")"
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// scopeText is "full database" or "tables a, b".
func scopeText(s Scope) string {
	if s.Kind == ScopeTables {
		return "tables " + strings.Join(s.Tables, ", ")
	}
	return "full database"
}

// ProposeFromMail records what a mail asked to change on a ticket it may
// not change, unless it asks for nothing new; ok says whether a proposal
// was recorded. Invalid values are left out, as UpdateFromMail does.
func ProposeFromMail(ctx context.Context, db DB, a Actor, ticketID, entryID int64, from, reason, authResults string, r MailRequest) (p Proposal, ok bool, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		t, err := ticketGetForUpdate(ctx, tx, ticketID)
		if err != nil {
			return err
		}
		p = Proposal{TicketID: ticketID, EntryID: entryID, From: strings.ToLower(strings.TrimSpace(from)), Reason: reason,
			AuthResults: authResults, Before: planOf(t), Status: ProposalOpen}
		if ref := strings.ToLower(strings.TrimSpace(r.ProjectRef)); projectRef.MatchString(ref) {
			p.ProjectRef = ref
		}
		if r.RequestedAt != nil && !r.RequestedAt.After(time.Now().Add(5*time.Minute)) {
			at := r.RequestedAt.UTC()
			p.RequestedAt, p.RequestedTZ = &at, "UTC"
			if _, err := time.LoadLocation(strings.TrimSpace(r.RequestedTZ)); err == nil && strings.TrimSpace(r.RequestedTZ) != "" {
				p.RequestedTZ = strings.TrimSpace(r.RequestedTZ)
			}
		}
		if r.Scope.Kind != "" {
			if s, err := validateScope(r.Scope); err == nil {
				p.Scope = &s
			}
		}
		if m, err := ParseMode(string(r.Mode)); err == nil {
			p.Mode = m
		}
		d := p.Diff()
		if len(d) == 0 {
			return nil
		}
		// Keep only what changes, so the diff and the accepted edit agree.
		keep := map[string]bool{}
		for _, c := range d {
			keep[c.Field] = true
		}
		if !keep["project"] {
			p.ProjectRef = ""
		}
		if !keep["time"] {
			p.RequestedAt, p.RequestedTZ = nil, ""
		}
		if !keep["scope"] {
			p.Scope = nil
		}
		if !keep["mode"] {
			p.Mode = ""
		}
		if p.ID, p.CreatedAt, err = proposalInsert(ctx, tx, p); err != nil {
			return err
		}
		ok = true
		return audit.Record(ctx, tx, a.audit(), audit.Entry{Action: "ticket.change_proposed", TicketID: ticketID,
			Before: p.Before, After: map[string]any{"proposal_id": p.ID, "from": p.From, "reason": reason, "changes": d}})
	})
	if err != nil {
		return Proposal{}, false, err
	}
	return p, ok, nil
}

// ProposalAccept applies an open proposal as the actor's edit: a ticket
// awaiting approval is taken back first (its approval lapses: the plan it
// approved is not the plan any more), and a prepared ticket is prepared
// again by the actor, with the snapshot the new project or time resolves to
// and the tables checked against its inventory, so it needs a new approval
// from someone else. Everything commits together, or nothing does.
func ProposalAccept(ctx context.Context, db DB, a Actor, id int64) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "accepting a proposed change"); err != nil {
		return Ticket{}, err
	}
	var ticketID int64
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		p, err := proposalGetForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if p.Status != ProposalOpen {
			return &ValidationError{Field: "proposal", Msg: fmt.Sprintf("this proposal was %s already", p.Status)}
		}
		ticketID = p.TicketID
		t, err := TicketGet(ctx, tx, p.TicketID)
		if err != nil {
			return err
		}
		switch t.State {
		case StateNew, StateNeedsInfo, StateReady, StateAwaitingApproval:
		default:
			return &ValidationError{Field: "proposal", Msg: fmt.Sprintf("the ticket is %s: too late to change its plan", t.State.Label())}
		}
		if t.State == StateAwaitingApproval {
			if err := lapseApproval(ctx, tx, a, t.ID); err != nil {
				return err
			}
		}
		if err := applyProposal(ctx, tx, a, t, p); err != nil {
			return err
		}
		return proposalDecide(ctx, tx, a, p, ProposalAccepted)
	})
	if err != nil {
		return Ticket{}, err
	}
	return TicketGet(ctx, db, ticketID)
}

// lapseApproval takes a ticket awaiting approval back to ready: the plan it
// was asked to approve is about to change.
func lapseApproval(ctx context.Context, tx pgx.Tx, a Actor, id int64) error {
	_, err := LapseApproval(ctx, tx, a, id, "a proposed change from mail was accepted")
	return err
}

// applyProposal writes p's values on the ticket as a's edit.
func applyProposal(ctx context.Context, tx pgx.Tx, a Actor, t Ticket, p Proposal) error {
	ref, at, tz := t.ProjectRef, t.RequestedAt, t.RequestedTZ
	if p.ProjectRef != "" {
		ref = p.ProjectRef
	}
	if p.RequestedAt != nil {
		at, tz = p.RequestedAt, cmpOr(p.RequestedTZ, "UTC")
	}
	scope, mode := t.Scope, t.Mode
	if p.Scope != nil {
		scope = *p.Scope
	}
	if p.Mode != "" {
		mode = p.Mode
	}
	if ok, err := projectExists(ctx, tx, ref); err != nil {
		return err
	} else if !ok {
		return &ValidationError{Field: "project_ref", Msg: fmt.Sprintf("no project %q is known to the portal", ref)}
	}
	cat := SnapshotCatalog(tx)
	moved := ref != t.ProjectRef || p.RequestedAt != nil
	snapID := t.SnapshotID
	if moved {
		snapID = 0
		if at != nil {
			if snap, ok, _, err := cat.SnapshotsNear(ctx, ref, *at, 0); err == nil && ok && snap.Usable {
				snapID = snap.ID
			}
		}
	}
	triage := t.State == StateNew || t.State == StateNeedsInfo
	if _, err := change(ctx, tx, a, t.ID, "ticket.proposal_applied", func(_ pgx.Tx, tk *Ticket) error {
		tk.ProjectRef, tk.RequestedAt, tk.RequestedTZ = ref, at, tz
		if triage {
			s, err := validateScope(scope)
			if err != nil {
				return err
			}
			tk.Scope, tk.Mode, tk.SnapshotID = s, mode, snapID
		}
		return nil
	}); err != nil {
		return err
	}
	if triage {
		return nil
	}
	// A prepared plan: prepared again, by the actor, with every check of
	// Prepare (snapshot of the project and usable, tables in it).
	if snapID == 0 {
		return &ValidationError{Field: "proposal", Msg: fmt.Sprintf("no verified snapshot of %s at or before the requested time: correct the request in triage instead", ref)}
	}
	_, err := Prepare(ctx, tx, cat, a, t.ID, Preparation{SnapshotID: snapID, Scope: scope, Mode: mode, Options: t.Options})
	return err
}

// ProposalDismiss closes an open proposal without applying it; reason goes
// to the thread.
func ProposalDismiss(ctx context.Context, db DB, a Actor, id int64, reason string) error {
	if err := a.require(auth.RoleOperator, "dismissing a proposed change"); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		p, err := proposalGetForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if p.Status != ProposalOpen {
			return &ValidationError{Field: "proposal", Msg: fmt.Sprintf("this proposal was %s already", p.Status)}
		}
		if reason = strings.TrimSpace(reason); reason != "" {
			if _, err := entryInsert(ctx, tx, Entry{TicketID: p.TicketID, Kind: EntryNote, AuthorID: a.UserID,
				Subject: "proposed change dismissed", Body: reason}); err != nil {
				return err
			}
		}
		return proposalDecide(ctx, tx, a, p, ProposalDismissed)
	})
}

func proposalDecide(ctx context.Context, tx pgx.Tx, a Actor, p Proposal, status string) error {
	if err := proposalSetStatus(ctx, tx, p.ID, status, a.UserID); err != nil {
		return fmt.Errorf("proposal %d: %w", p.ID, err)
	}
	return audit.Record(ctx, tx, a.audit(), audit.Entry{Action: "ticket.proposal_" + status, TicketID: p.TicketID,
		Before: p.Before, After: map[string]any{"proposal_id": p.ID, "from": p.From, "changes": p.Diff()}})
}

// ErrProposalNotFound is returned for a proposal that does not exist.
var ErrProposalNotFound = errors.New("proposed change not found")

// RequesterAliasTrust is staff listing email (a colleague of the requester,
// say) as one whose mail counts as the requester's on the ticket, audited.
func RequesterAliasTrust(ctx context.Context, db DB, a Actor, ticketID int64, email string) error {
	if err := a.require(auth.RoleOperator, "listing a requester's colleague"); err != nil {
		return err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(email, "@") {
		return &ValidationError{Field: "email", Msg: fmt.Sprintf("%q is not an email address", email)}
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := ticketGetForUpdate(ctx, tx, ticketID); err != nil {
			return err
		}
		if err := RequesterAliasAdd(ctx, tx, ticketID, email, "listed by "+a.Email); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a.audit(), audit.Entry{Action: "ticket.requester_alias_added", TicketID: ticketID,
			After: map[string]any{"email": email}})
	})
}

// IsRequester says whether mail from email counts as the ticket's
// requester's: the requester, or an address listed with RequesterAliasAdd.
func IsRequester(ctx context.Context, db DB, t Ticket, email string) (bool, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return false, nil
	}
	if email == t.RequesterEmail {
		return true, nil
	}
	ok, err := requesterAliasExists(ctx, db, t.ID, email)
	if err != nil {
		return false, fmt.Errorf("aliases of ticket %d: %w", t.ID, err)
	}
	return ok, nil
}
