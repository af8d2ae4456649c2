package templates

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/tickets"
)

// StateCount is one tile of the dashboard.
type StateCount struct {
	State tickets.State
	N     int
}

// DashboardPage is the landing page.
type DashboardPage struct {
	Base
	Counts   []StateCount
	Active   []tickets.Ticket // queued and running
	Awaiting []tickets.Ticket // awaiting approval
	Alarms   []drills.Alarm   // open snapshot health alarms
}

// TicketListPage is the filtered, paged ticket list.
type TicketListPage struct {
	Base
	Filter tickets.Filter
	List   tickets.ListPage
	States []tickets.State
}

// PageURL is the list URL of page n with the same filter.
func (p TicketListPage) PageURL(n int) string {
	v := url.Values{}
	if p.Filter.State != "" {
		v.Set("state", string(p.Filter.State))
	}
	if p.Filter.ProjectRef != "" {
		v.Set("project", p.Filter.ProjectRef)
	}
	if p.Filter.Requester != "" {
		v.Set("requester", p.Filter.Requester)
	}
	if p.Filter.Query != "" {
		v.Set("q", p.Filter.Query)
	}
	v.Set("page", fmt.Sprint(n))
	return "/tickets?" + v.Encode()
}

// TicketForm is the new-ticket form's fields, as typed.
type TicketForm struct {
	ProjectRef     string
	RequesterEmail string
	RequestedAt    string // datetime-local
	RequestedTZ    string
	ScopeKind      string
	Tables         string // comma or newline separated
	Mode           string
	Note           string
}

// NewTicketPage is the new-ticket form.
type NewTicketPage struct {
	Base
	Form     TicketForm
	Error    string
	Projects []string
}

// TicketPage is one ticket with its thread, triage, approval and progress.
type TicketPage struct {
	Base
	Ticket  tickets.Ticket
	Entries []tickets.Entry
	Events  []audit.Event
	// Resolution of the requested time.
	Resolved       *tickets.Snapshot
	ResolveMessage string
	// Snapshots are the picker's choices: the resolved one and its neighbours.
	Snapshots []tickets.Snapshot
	// Chosen is the snapshot the table picker shows (?snapshot=, else the
	// ticket's, else the resolved one).
	Chosen *tickets.Snapshot
	// Snapshot is the ticket's chosen (or suggested) snapshot.
	Snapshot  *tickets.Snapshot
	Tables    []tickets.Table
	Preflight string
	Error     string
	// Why the current user cannot approve, when they could otherwise.
	ApproveBlocked string
	// PlanDigest is the digest of the plan shown, carried by the approval
	// form; PlanChanges says what changed when an approval of an older plan
	// was refused.
	PlanDigest   string
	PlanChanges  []string
	Rollbackable bool
	// RollbackDigest is the digest of the rollback the form requests.
	RollbackDigest string
	// RollbackPreview says what the rollback will keep aside and until when
	// (tickets.RollbackPreview); RollbackPreviewError why it is incomplete.
	RollbackPreview      []string
	RollbackPreviewError string
	// RollbackOrder, when set, is why this rollback must wait: a newer
	// restore of the project stands ("roll back ticket #N first").
	RollbackOrder string
	// Safety is the safety snapshot the restore took, if any, and SafetyUntil
	// when its retention (PORTAL_SAFETY_KEEP_FOR) deletes it.
	Safety *tickets.SafetySnapshotShown
	// Cutover is the record of the restore's database cut-over, if any.
	Cutover     *tickets.Cutover
	SafetyUntil time.Time
	// Steps is the step log of the ticket's restore and rollback attempts.
	Steps     []tickets.StepLog
	Users     []auth.User
	Proposals []tickets.Proposal // changes proposed by mail (internal/web/proposals.go)

	// Preview is the plan in numbers, Review the staged review (preview.templ).
	Preview TicketPreviewProps
	Review  TicketReviewProps
}

// Selected says whether table is in the ticket's scope.
func (p TicketPage) Selected(t tickets.Table) bool {
	for _, n := range p.Ticket.Scope.Tables {
		if n == t.QualifiedName() {
			return true
		}
	}
	return false
}

// Editable says whether the triage form may be changed.
func (p TicketPage) Editable() bool {
	switch p.Ticket.State {
	case tickets.StateNew, tickets.StateNeedsInfo, tickets.StateReady, tickets.StateFailed:
		return p.Can(auth.RoleOperator)
	}
	return false
}

// UsersPage is the admin's user list.
type UsersPage struct {
	Base
	Users []auth.User
	Roles []auth.Role
	Error string
	// Created is set after a user was created with a generated password.
	CreatedEmail    string
	CreatedPassword string
}

// AccountPage is the user's own API tokens.
type AccountPage struct {
	Base
	Tokens   []auth.Token
	NewToken string // shown once
	Error    string
}

// AuditPage is the trail, newest first.
type AuditPage struct {
	Base
	Events   []audit.Event
	Action   string
	TicketID int64
	// Older is the URL of the next page, empty at the end.
	Older string
}

func scopeText(s tickets.Scope) string {
	if s.Kind == tickets.ScopeTables {
		return strings.Join(s.Tables, ", ")
	}
	return "full database"
}

func modeText(m tickets.Mode) string {
	if m == tickets.ModeDestructive {
		return "destructive (replace the live project)"
	}
	if m == tickets.ModeUndelete {
		return "undelete (insert the rows missing live; no live row changes)"
	}
	return "new project (live project untouched)"
}

func percent(p *tickets.Progress) float64 {
	if p == nil {
		return 0
	}
	return p.Percent
}

func percentText(p *tickets.Progress) string { return fmt.Sprintf("%.0f%%", percent(p)) }

func percentValue(p *tickets.Progress) string { return fmt.Sprintf("%.1f", percent(p)) }

func ticketURL(id int64) string { return fmt.Sprintf("/tickets/%d", id) }

func actionURL(id int64, action string) string { return fmt.Sprintf("/tickets/%d/%s", id, action) }

func stateLabel(s string) string { return tickets.State(s).Label() }

func phase(p *tickets.Progress) string {
	if p == nil {
		return ""
	}
	return p.Phase
}

func table(p *tickets.Progress) string {
	if p == nil {
		return ""
	}
	return p.CurrentTable
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// localTime writes t in zone tz for a datetime-local input.
func localTime(t *time.Time, tz string) string {
	if t == nil {
		return ""
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02T15:04")
}

// shortDigest is the first 12 hex digits of a plan digest, for people.
func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// stepTime is how long a logged step took, or "running"/"not finished"
// for one without an end (its attempt is running, or died in it).
func stepTime(s tickets.StepLog, running bool) string {
	if s.FinishedAt == nil {
		if running {
			return "running"
		}
		return "not finished (its attempt stopped)"
	}
	return s.Duration(time.Now()).Round(10 * time.Millisecond).String()
}

// stepBytes shows the bytes a logged step moved, or nothing.
func stepBytes(s tickets.StepLog) string {
	if s.Bytes == nil {
		return ""
	}
	return FormatBytes(*s.Bytes)
}

// stepNames lists what a logged step made.
func stepNames(s tickets.StepLog) string { return strings.Join(s.Names, ", ") }
