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
	Now      time.Time
}

// ZeroStates names the states no ticket is in, in one line instead of a
// card each.
func (p DashboardPage) ZeroStates() string {
	var names []string
	for _, c := range p.Counts {
		if c.N == 0 {
			names = append(names, c.State.Label())
		}
	}
	return strings.Join(names, ", ")
}

// TicketListPage is the filtered, paged ticket list.
type TicketListPage struct {
	Base
	Filter tickets.Filter
	List   tickets.ListPage
	States []tickets.State
	Now    time.Time
}

// Filtered says whether the list is narrowed by a filter or search.
func (p TicketListPage) Filtered() bool {
	f := p.Filter
	return f.State != "" || f.ProjectRef != "" || f.Requester != "" || f.Query != ""
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
	// SnapshotID is the snapshot the form was opened for ("Request a
	// restore"), SnapshotText its time; the ticket suggests exactly it.
	SnapshotID   int64
	SnapshotText string
}

// NewTicketPage is the new-ticket form.
type NewTicketPage struct {
	Base
	Form      TicketForm
	Error     string
	FormError FormError
	Projects  []string
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
	// FormError is the refused form's error, shown beside its field; Draft
	// the triage as it was typed when that form was the triage.
	FormError FormError
	Draft     *tickets.Preparation
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
	// StartedAt is when the restore's worker began (the restore.started
	// event), for elapsed and ETA; Now is the time the page was made.
	StartedAt time.Time
	Now       time.Time
	// ConnectionString reaches a finished new project's database, without
	// a password.
	ConnectionString string
}

// triage is the plan the triage form shows: as typed when a save was
// refused, else the ticket's.
func (p TicketPage) triage() (tickets.Scope, tickets.Mode, tickets.Options) {
	if d := p.Draft; d != nil {
		return d.Scope, d.Mode, d.Options
	}
	return p.Ticket.Scope, p.Ticket.Mode, p.Ticket.Options
}

// TriageScope, TriageMode and TriageOptions are the triage form's values.
func (p TicketPage) TriageScope() tickets.Scope { s, _, _ := p.triage(); return s }

func (p TicketPage) TriageMode() tickets.Mode { _, m, _ := p.triage(); return m }

func (p TicketPage) TriageOptions() tickets.Options { _, _, o := p.triage(); return o }

// Selected says whether table is in the triage's scope.
func (p TicketPage) Selected(t tickets.Table) bool {
	for _, n := range p.TriageScope().Tables {
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
	Events []audit.Event
	// Rows are the events with their changes in words, one line each.
	Rows     []AuditRow
	Action   string
	Actor    string
	TicketID int64
	// CSV is the URL of the same lines as CSV.
	CSV string
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

// Risks are what an approver must know before approving: what is lost, how
// far the snapshot is from the time asked for, what the options allow.
func (p TicketPage) Risks() []string {
	var out []string
	if p.Preflight != "" {
		out = append(out, p.Preflight)
	}
	if p.Snapshot == nil {
		return out
	}
	taken := p.Snapshot.TakenAt
	if p.Ticket.Mode == tickets.ModeUndelete {
		out = append(out, fmt.Sprintf("Rows of the snapshot of %s whose key is missing live are inserted into %s; rows whose key exists with other content are listed as conflicts, not changed.",
			FormatTime(taken), p.Ticket.ProjectRef))
	} else if p.Ticket.Destructive() {
		out = append(out, fmt.Sprintf("Everything written to %s since %s (%s of changes) is replaced; it stays only in the kept copy.",
			p.Ticket.ProjectRef, FormatTime(taken), FormatDuration(time.Since(taken))))
		if p.Ticket.Options.AllowDangling {
			out = append(out, "Rows of other tables may be left pointing at rows no longer there (dangling references are allowed).")
		}
	}
	if at := p.Ticket.RequestedAt; at != nil && at.Sub(taken) > time.Minute {
		out = append(out, fmt.Sprintf("The snapshot is %s earlier than the time asked for (%s): changes in between are not in it.",
			FormatDuration(at.Sub(taken)), FormatTime(*at)))
	}
	return out
}

// FormatDuration writes a span for people: "40 min", "25 h", "9 d".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 72*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d d", int(d.Hours()/24))
}

func cancelNote(s tickets.State) string {
	if s == tickets.StateQueued || s == tickets.StateRunning {
		return " and stops its restore"
	}
	return ""
}

// badgeClass is the state badge's class of something that passed (shown as
// succeeded), failed, or neither yet (shown as queued).
func badgeClass(passed, failed bool) string {
	switch {
	case passed:
		return "state state-succeeded"
	case failed:
		return "state state-failed"
	}
	return "state state-queued"
}

// modeShort is a ticket's mode in a table cell.
func modeShort(m tickets.Mode) string {
	switch m {
	case tickets.ModeDestructive:
		return "destructive"
	case tickets.ModeUndelete:
		return "undelete"
	}
	return "new project"
}

// FormatAgo is t relative to now, in 24-hour spans: "40 min ago", "25 h ago",
// "3 d ago"; a time ahead is "in ...".
func FormatAgo(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	if now.IsZero() {
		now = time.Now()
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + FormatDuration(-d)
	}
	if d < time.Minute {
		return "just now"
	}
	return FormatDuration(d) + " ago"
}

// InZone writes t in the IANA zone tz ("2026-05-03 09:00:00 CEST"), or ""
// when tz is UTC or unknown.
func InZone(t time.Time, tz string) string {
	if tz == "" || tz == "UTC" {
		return ""
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST") + " (" + tz + ")"
}

func startedAttr(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func bytesText(p *tickets.Progress) string {
	if p == nil || p.BytesTotal == 0 {
		if p != nil && p.Bytes > 0 {
			return FormatBytes(p.Bytes)
		}
		return "not started"
	}
	return FormatBytes(p.Bytes) + " of " + FormatBytes(p.BytesTotal)
}

func tablesText(p *tickets.Progress) string {
	if p == nil || p.TablesTotal == 0 {
		return "–"
	}
	return fmt.Sprintf("%d of %d", p.TablesDone, p.TablesTotal)
}

func rowsText(p *tickets.Progress) string {
	if p == nil || p.Rows == 0 {
		return "–"
	}
	return fmt.Sprint(p.Rows)
}

// etaText estimates the time left from the bytes read so far (the dump is
// read at a steady pace), else from the percent.
func etaText(p *tickets.Progress, started, now time.Time) string {
	if p == nil || started.IsZero() {
		return "–"
	}
	elapsed := now.Sub(started)
	done := p.Percent / 100
	if p.BytesTotal > 0 && p.Bytes > 0 {
		done = float64(p.Bytes) / float64(p.BytesTotal)
	}
	if done <= 0 || done >= 1 || elapsed <= 0 {
		return "–"
	}
	left := time.Duration(float64(elapsed) * (1 - done) / done)
	return "about " + FormatDuration(left)
}

// AuditRow is one event of the trail with what it changed, field by field,
// user ids written as names.
type AuditRow struct {
	audit.Event
	Changes []string
}
