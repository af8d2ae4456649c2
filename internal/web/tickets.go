package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

func ticketID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "no such ticket")
	}
	return id, nil
}

func (s *Server) ticketList(c echo.Context) error {
	page, err := queryInt(c, "page", 1, 1, maxPage)
	if err != nil {
		return err
	}
	f := tickets.Filter{State: tickets.State(c.QueryParam("state")), ProjectRef: strings.TrimSpace(c.QueryParam("project")),
		Requester: strings.TrimSpace(c.QueryParam("requester")), Query: c.QueryParam("q"), Page: int(page)}
	if f.State != "" && !f.State.Valid() {
		return &paramError{Field: "state", Msg: fmt.Sprintf("%q is not a ticket state; one of %s", f.State, stateNames())}
	}
	list, err := tickets.TicketList(c.Request().Context(), s.Pool, f)
	if err != nil {
		return err
	}
	return renderPage(c, http.StatusOK, templates.TicketList(templates.TicketListPage{Base: s.base(c, "Tickets", "tickets"),
		Filter: f, List: list, States: tickets.States, Now: time.Now()}))
}

// ticketNewForm shows the new ticket form, prefilled from the project page's
// "Request a restore": the project, the snapshot clicked (by id: a manual
// snapshot at 07:21:24 is that snapshot, not whatever 07:21 resolves to) and
// its exact time.
func (s *Server) ticketNewForm(c echo.Context) error {
	form := templates.TicketForm{RequestedTZ: "UTC", ScopeKind: "full", Mode: "new_project", ProjectRef: c.QueryParam("project")}
	if at, err := time.Parse(time.RFC3339, c.QueryParam("at")); err == nil {
		form.RequestedAt = datetimeLocal(at.UTC())
	}
	if id, err := strconv.ParseInt(c.QueryParam("snapshot"), 10, 64); err == nil && id > 0 {
		s.formSnapshot(c, &form, id)
	}
	return renderPage(c, http.StatusOK, templates.NewTicket(templates.NewTicketPage{Base: s.base(c, "New ticket", "tickets"), Form: form}))
}

// formSnapshot puts the snapshot id names on the form, with its time, when it
// is one of the form's project.
func (s *Server) formSnapshot(c echo.Context, form *templates.TicketForm, id int64) {
	snap, err := s.catalog.SnapshotGet(c.Request().Context(), id)
	if err != nil || (form.ProjectRef != "" && snap.ProjectRef != strings.ToLower(strings.TrimSpace(form.ProjectRef))) {
		return
	}
	form.SnapshotID = id
	form.SnapshotText = templates.FormatTimeSeconds(snap.TakenAt)
	if form.RequestedAt == "" {
		form.RequestedAt = datetimeLocal(snap.TakenAt.UTC())
	}
}

// datetimeLocal writes t for a datetime-local input, to the second when it
// has seconds.
func datetimeLocal(t time.Time) string {
	if t.Second() != 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04")
}

// splitTables reads a list of tables separated by commas, spaces or lines.
func splitTables(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' })
}

// newTicketParams turns the form or API fields into the domain's request.
func newTicketParams(src tickets.Source, project, requester, at, tz, scopeKind string, tables []string, mode, note string) (tickets.NewTicket, error) {
	n := tickets.NewTicket{Source: src, ProjectRef: project, RequesterEmail: requester, RequestedTZ: tz,
		Scope: tickets.Scope{Kind: tickets.ScopeKind(scopeKind), Tables: tables}, Mode: tickets.Mode(mode), Note: note}
	if strings.TrimSpace(at) != "" {
		loc := time.UTC
		if tz != "" {
			l, err := time.LoadLocation(tz)
			if err != nil {
				return n, &tickets.ValidationError{Field: "requested_tz", Msg: fmt.Sprintf("%q is not a time zone such as Europe/Berlin", tz)}
			}
			loc = l
		}
		t, err := snapshots.ParseTime(strings.TrimSpace(at), loc)
		if err != nil {
			return n, &tickets.ValidationError{Field: "requested_at", Msg: err.Error()}
		}
		n.RequestedAt = &t
	}
	return n, nil
}

// ticketCreate: parse form -> domain params -> validate and act -> redirect;
// on a validation error the form is shown again with the message.
func (s *Server) ticketCreate(c echo.Context) error {
	form := templates.TicketForm{ProjectRef: c.FormValue("project_ref"), RequesterEmail: c.FormValue("requester_email"),
		RequestedAt: c.FormValue("requested_at"), RequestedTZ: c.FormValue("requested_tz"), ScopeKind: c.FormValue("scope_kind"),
		Tables: c.FormValue("tables"), Mode: c.FormValue("mode"), Note: c.FormValue("note")}
	tables := splitTables(form.Tables)
	if form.ScopeKind != string(tickets.ScopeTables) {
		tables = nil
	}
	n, err := newTicketParams(tickets.SourcePortal, form.ProjectRef, form.RequesterEmail, form.RequestedAt, form.RequestedTZ,
		form.ScopeKind, tables, form.Mode, form.Note)
	if v := c.FormValue("snapshot_id"); v != "" {
		id, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || id <= 0 {
			err = cmp.Or(err, error(&tickets.ValidationError{Field: "snapshot_id", Msg: fmt.Sprintf("%q is not a snapshot number", v)}))
		}
		n.SnapshotID = id
		s.formSnapshot(c, &form, id)
		form.SnapshotID = id
	}
	var t tickets.Ticket
	if err == nil {
		t, err = tickets.Create(c.Request().Context(), s.Pool, s.catalog, s.actor(c), n)
	}
	if err != nil {
		if !userFacing(err) {
			return err
		}
		code, _, _ := statusOf(err)
		fe := formErrorOf(err, "new-ticket")
		return renderPage(c, code, templates.NewTicket(templates.NewTicketPage{Base: s.base(c, "New ticket", "tickets"), Form: form,
			Error: fe.Summary(), FormError: fe}))
	}
	return s.redirectFlash(c, fmt.Sprintf("/tickets/%d", t.ID), "ok", fmt.Sprintf("Ticket #%d created.", t.ID))
}

func (s *Server) ticketShow(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	return s.renderTicket(c, id, http.StatusOK, "")
}

// renderTicket shows the ticket page, with msg as the error of a refused
// action.
func (s *Server) renderTicket(c echo.Context, id int64, status int, msg string) error {
	return s.renderTicketView(c, id, status, ticketView{msg: msg})
}

// renderTicketChanges is renderTicket after a refused approval of a stale
// plan: changes lists what differs from the plan the approver saw.
func (s *Server) renderTicketChanges(c echo.Context, id int64, status int, msg string, changes []string) error {
	return s.renderTicketView(c, id, status, ticketView{msg: msg, changes: changes})
}

// ticketView is what a refused form adds to the ticket page: the message,
// the field it is about, and the triage as typed (so nothing typed is lost).
type ticketView struct {
	msg     string
	changes []string
	err     templates.FormError
	draft   *tickets.Preparation
}

func (s *Server) renderTicketView(c echo.Context, id int64, status int, v ticketView) error {
	msg, changes := v.msg, v.changes
	ctx := c.Request().Context()
	// A request older than the approval TTL lapses before anyone sees it.
	if _, err := tickets.LapseIfExpired(ctx, s.Pool, id, s.Config.ApprovalTTL); err != nil && !errors.Is(err, tickets.ErrNotFound) {
		return err
	}
	t, err := tickets.TicketGet(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	entries, err := tickets.EntryListByTicket(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	events, err := audit.List(ctx, s.Pool, audit.Filter{TicketID: id, Limit: 200})
	if err != nil {
		return err
	}
	p := templates.TicketPage{Base: s.base(c, fmt.Sprintf("Ticket #%d", id), "tickets"), Ticket: t, Entries: entries,
		Events: events, Error: msg, PlanChanges: changes, FormError: v.err, Draft: v.draft}
	at := time.Now()
	if t.RequestedAt != nil {
		at = *t.RequestedAt
	}
	resolved, ok, near, err := s.catalog.SnapshotsNear(ctx, t.ProjectRef, at, 3)
	switch {
	case errors.Is(err, snapshots.ErrNotFound):
		p.ResolveMessage = fmt.Sprintf("The catalog does not know project %s.", t.ProjectRef)
	case err != nil:
		return err
	case ok:
		p.Resolved = &resolved
		p.ResolveMessage = fmt.Sprintf("The requested time resolves to the snapshot of %s (%s earlier).",
			templates.FormatTimeSeconds(resolved.TakenAt), templates.FormatDuration(at.Sub(resolved.TakenAt)))
		p.ResolveMessage += skippedNote(near, resolved, at)
	default:
		p.ResolveMessage = "No verified snapshot was taken at or before the requested time."
		if first, ok := earliestUsable(near); ok {
			p.ResolveMessage = fmt.Sprintf("The requested time is before the first usable snapshot: the earliest is of %s (%s later).",
				templates.FormatTimeSeconds(first.TakenAt), templates.FormatDuration(first.TakenAt.Sub(at)))
		}
	}
	p.Snapshots = near
	chosen := t.SnapshotID
	if q, err := strconv.ParseInt(c.QueryParam("snapshot"), 10, 64); err == nil {
		chosen = q
	} else if v.draft != nil && v.draft.SnapshotID != 0 {
		chosen = v.draft.SnapshotID
	} else if chosen == 0 && p.Resolved != nil {
		chosen = p.Resolved.ID
	}
	if chosen != 0 {
		if snap, err := s.catalog.SnapshotGet(ctx, chosen); err == nil && snap.ProjectRef == t.ProjectRef {
			p.Chosen = &snap
			if !containsSnapshot(p.Snapshots, snap.ID) {
				p.Snapshots = append([]tickets.Snapshot{snap}, p.Snapshots...)
			}
			if p.Tables, err = s.catalog.SnapshotTables(ctx, snap.ID); err != nil {
				return err
			}
		}
	}
	if t.SnapshotID != 0 {
		if snap, err := s.catalog.SnapshotGet(ctx, t.SnapshotID); err == nil {
			p.Snapshot = &snap
			if preflightShown(t.State) {
				p.Preflight = tickets.Preflight(t, snap, s.Config.Worker.KeepFor)
			}
			// The approval form carries the digest of the plan shown here.
			p.PlanDigest = tickets.PlanOf(t, snap).Digest()
		}
	}
	s.ticketPreview(ctx, t, &p)
	if u := p.User; t.State == tickets.StateAwaitingApproval || t.State == tickets.StateSucceeded {
		editor, err := tickets.PlanEditor(ctx, s.Pool, t.ID, u.ID)
		if err != nil {
			return err
		}
		switch {
		case !u.Role.AtLeast(auth.RoleApprover):
			p.ApproveBlocked = "Waiting for an approver: a destructive restore needs the approver role to approve."
		case u.ID == t.PreparedBy:
			p.ApproveBlocked = "You prepared this restore; another approver must approve it."
		case editor:
			p.ApproveBlocked = "You prepared or submitted a version of this plan; another approver must approve it."
		}
	}
	if safety, ok, err := tickets.SafetySnapshotShow(ctx, s.Pool, t.ID); err != nil {
		return err
	} else if ok {
		p.Safety = &safety
		p.SafetyUntil = safety.RecordedAt.Add(cmp.Or(s.Config.Snapshots.SafetyKeepFor, s.Config.Worker.KeepFor))
	}
	if p.Steps, err = tickets.StepsOf(ctx, s.Pool, t.ID); err != nil {
		return err
	}
	if c, err := tickets.CutoverGet(ctx, s.Pool, t.ID, tickets.CutoverRestore); err == nil {
		p.Cutover = &c
	} else if !errors.Is(err, tickets.ErrNoCutover) {
		return err
	}
	p.Rollbackable = t.Result.Rollbackable(time.Now())
	if p.Rollbackable {
		rp, err := tickets.CurrentRollbackPlan(ctx, s.Pool, t)
		if err != nil {
			return err
		}
		p.RollbackDigest = rp.Digest()
		if err := s.rollbackConfirmation(ctx, t, &p); err != nil {
			return err
		}
	}
	if err := s.ticketProposals(c, &p); err != nil {
		return err
	}
	p.Now = time.Now()
	for _, e := range events { // newest first: the last attempt's start
		if e.Action == "restore.started" {
			p.StartedAt = e.At
			break
		}
	}
	if r := t.Result; r != nil && r.OK && !t.Destructive() && r.TargetDatabase != "" && r.RolledBackAt == nil {
		if cl, err := s.projectCluster(ctx, t.ProjectRef); err == nil { // the new project is on its source's cluster
			p.ConnectionString = connectionString(cl.URL(""), r.TargetDatabase)
		}
	}
	return renderPage(c, status, templates.Ticket(p))
}

func containsSnapshot(list []tickets.Snapshot, id int64) bool {
	for _, s := range list {
		if s.ID == id {
			return true
		}
	}
	return false
}

// ticketActionRoutes registers the ticket page's forms, one handler each of
// the house shape: parse -> domain call -> redirect back with a flash; a
// refused action shows the page again with the reason (ticketActionDone).
func (s *Server) ticketActionRoutes(g *echo.Group) {
	for action, h := range map[string]echo.HandlerFunc{
		"prepare": s.ticketPrepare, "edit": s.ticketEdit, "submit": s.ticketSubmit, "start": s.ticketStart,
		"approve": s.ticketApprove, "withdraw": s.ticketWithdraw, "retry": s.ticketRetry, "rollback": s.ticketRollback,
		"decide": s.ticketDecide, "notes": s.ticketNotes, "assign": s.ticketAssign,
	} {
		g.POST("/tickets/:id/"+action, h)
	}
	g.POST("/tickets/:id/:action", func(echo.Context) error {
		return echo.NewHTTPError(http.StatusNotFound, "no such action")
	})
}

// ticketForm runs the common form of the ticket page: act on ticket id as the
// signed-in person and end with ticketActionDone (done is the flash).
func (s *Server) ticketForm(c echo.Context, done string, act func(ctx context.Context, a tickets.Actor, id int64) error) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	return s.ticketActionDone(c, id, act(c.Request().Context(), s.actor(c), id), done)
}

// ticketPrepare saves the triage; a refused plan shows the form again with
// what was typed.
func (s *Server) ticketPrepare(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var p tickets.Preparation
	p.SnapshotID, _ = strconv.ParseInt(c.FormValue("snapshot_id"), 10, 64)
	p.Mode = tickets.Mode(c.FormValue("mode"))
	p.Scope.Kind = tickets.ScopeKind(c.FormValue("scope_kind"))
	if p.Scope.Kind == tickets.ScopeTables {
		form, _ := c.FormParams()
		p.Scope.Tables = form["tables"]
	}
	p.Options.TargetRef = strings.TrimSpace(c.FormValue("target_ref"))
	p.Options.AllowDangling = c.FormValue("allow_dangling") == "1"
	p.Options.Undelete = undeleteLimitForm(c) // undelete.go
	p.Options.StagedReview = c.FormValue("staged_review") == "1"
	p.Options.StagedReviewFull = c.FormValue("staged_review_full") == "1"
	if cur, err := tickets.TicketGet(ctx, s.Pool, id); err == nil {
		p.Options.KeepDays = cur.Options.KeepDays
	}
	if _, err = tickets.Prepare(ctx, s.Pool, s.catalog, s.actor(c), id, p); err != nil && userFacing(err) && !errors.Is(err, tickets.ErrNotFound) {
		code, _, _ := statusOf(err)
		fe := formErrorOf(err, "triage")
		return s.renderTicketView(c, id, code, ticketView{msg: fe.Summary(), err: fe, draft: &p})
	}
	return s.ticketActionDone(c, id, err, "Triage saved; the ticket is ready.")
}

// ticketEdit corrects the request's project and point in time.
func (s *Server) ticketEdit(c echo.Context) error {
	return s.ticketForm(c, "Request corrected.", func(ctx context.Context, a tickets.Actor, id int64) error {
		n, err := newTicketParams(tickets.SourcePortal, c.FormValue("project_ref"), "", c.FormValue("requested_at"),
			c.FormValue("requested_tz"), "", nil, "", "")
		if err != nil {
			return err
		}
		_, err = tickets.EditRequest(ctx, s.Pool, s.catalog, a, id, tickets.RequestEdit{ProjectRef: n.ProjectRef,
			RequestedAt: n.RequestedAt, RequestedTZ: n.RequestedTZ})
		return err
	})
}

// ticketSubmit asks for approval of the plan.
func (s *Server) ticketSubmit(c echo.Context) error {
	return s.ticketForm(c, "Approval requested.", func(ctx context.Context, a tickets.Actor, id int64) error {
		_, err := tickets.Submit(ctx, s.Pool, a, id)
		return err
	})
}

// ticketStart queues the restore of a ready ticket.
func (s *Server) ticketStart(c echo.Context) error {
	return s.ticketForm(c, "Restore queued.", func(ctx context.Context, a tickets.Actor, id int64) error {
		_, err := tickets.Start(ctx, s.Pool, s.River, a, id)
		return err
	})
}

// ticketApprove approves the plan shown; a plan that changed since shows
// what changed.
func (s *Server) ticketApprove(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	_, err = tickets.ApprovePlan(c.Request().Context(), s.Pool, s.catalog, s.River, s.actor(c), id, tickets.Approval{ConfirmRef: c.FormValue("confirm_ref"),
		PlanDigest: c.FormValue("plan_digest"), TTL: s.Config.ApprovalTTL})
	var pc *tickets.PlanChangedError
	if errors.As(err, &pc) {
		return s.renderTicketChanges(c, id, http.StatusConflict, pc.Error(), pc.Changes)
	}
	return s.ticketActionDone(c, id, err, "Approved; the restore is queued.")
}

// ticketWithdraw is "Withdraw and edit": the only way to change a plan
// awaiting approval.
func (s *Server) ticketWithdraw(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	if _, err = tickets.Withdraw(c.Request().Context(), s.Pool, s.actor(c), id); err == nil {
		return s.redirectFlash(c, fmt.Sprintf("/tickets/%d#triage", id), "ok",
			"Approval request withdrawn: edit the plan, save the triage and ask for approval again.")
	}
	return s.ticketActionDone(c, id, err, "")
}

// ticketRetry makes a failed ticket ready again.
func (s *Server) ticketRetry(c echo.Context) error {
	return s.ticketForm(c, "The ticket is ready again.", func(ctx context.Context, a tickets.Actor, id int64) error {
		_, err := tickets.Retry(ctx, s.Pool, a, id)
		return err
	})
}

// ticketRollback queues the rollback of a done restore.
func (s *Server) ticketRollback(c echo.Context) error {
	return s.ticketForm(c, "Rollback queued.", func(ctx context.Context, a tickets.Actor, id int64) error {
		_, err := tickets.RequestRollbackPlan(ctx, s.Pool, s.River, a, id, tickets.Approval{ConfirmRef: c.FormValue("confirm_ref"),
			PlanDigest: c.FormValue("rollback_digest")})
		return err
	})
}

// ticketDecide asks the requester for more, rejects or cancels the ticket.
func (s *Server) ticketDecide(c echo.Context) error {
	var decide func(ctx context.Context, a tickets.Actor, id int64, msg string) error
	switch tickets.State(c.FormValue("decision")) {
	case tickets.StateNeedsInfo:
		decide = func(ctx context.Context, a tickets.Actor, id int64, msg string) error {
			if _, err := tickets.AskForInfo(ctx, s.Pool, a, id, msg); err != nil {
				return err
			}
			// The requester of a mailed ticket is asked by mail (the
			// notice job skips other tickets and robots).
			_, err := s.River.Insert(ctx, intake.NotifyArgs{TicketID: id, Notice: mail.NoticeNeedsInfo, Problems: []string{msg}}, nil)
			return err
		}
	case tickets.StateRejected:
		decide = func(ctx context.Context, a tickets.Actor, id int64, msg string) error {
			_, err := tickets.Reject(ctx, s.Pool, a, id, msg)
			return err
		}
	case tickets.StateCancelled:
		decide = func(ctx context.Context, a tickets.Actor, id int64, msg string) error {
			_, err := tickets.Cancel(ctx, s.Pool, a, id, msg)
			return err
		}
	}
	if _, err := ticketID(c); err != nil {
		return err
	}
	if decide == nil {
		return echo.NewHTTPError(http.StatusBadRequest, "unknown decision")
	}
	return s.ticketForm(c, "Ticket updated.", func(ctx context.Context, a tickets.Actor, id int64) error {
		return decide(ctx, a, id, c.FormValue("message"))
	})
}

// ticketNotes adds a note to the thread.
func (s *Server) ticketNotes(c echo.Context) error {
	return s.ticketForm(c, "Note added.", func(ctx context.Context, a tickets.Actor, id int64) error {
		_, err := tickets.AddEntry(ctx, s.Pool, a, tickets.Entry{TicketID: id, Kind: tickets.EntryNote, Body: c.FormValue("body")})
		return err
	})
}

// ticketAssign changes the assignee.
func (s *Server) ticketAssign(c echo.Context) error {
	return s.ticketForm(c, "Assignee changed.", func(ctx context.Context, a tickets.Actor, id int64) error {
		uid, _ := strconv.ParseInt(c.FormValue("user_id"), 10, 64)
		_, err := tickets.Assign(ctx, s.Pool, a, id, uid)
		return err
	})
}

// preflightShown says whether the page says what the restore will do: from
// triage until it starts.
func preflightShown(s tickets.State) bool {
	return s == tickets.StateReady || s == tickets.StateAwaitingApproval || s == tickets.StateQueued
}

// ticketActionDone ends a ticket form handler: a user-facing error re-renders
// the ticket page with its message, any other error goes to the error
// handler, and success redirects to the ticket with done as the flash.
func (s *Server) ticketActionDone(c echo.Context, id int64, err error, done string) error {
	if err != nil {
		if !userFacing(err) || errors.Is(err, tickets.ErrNotFound) {
			return err
		}
		code, _, _ := statusOf(err)
		form := c.Param("action")
		if form == "decide" {
			form += "-" + c.FormValue("decision")
		}
		fe := formErrorOf(err, form)
		return s.renderTicketView(c, id, code, ticketView{msg: fe.Summary(), err: fe})
	}
	return s.redirectFlash(c, fmt.Sprintf("/tickets/%d", id), "ok", done)
}

// stateNames lists the ticket states for an error message.
func stateNames() string {
	names := make([]string, len(tickets.States))
	for i, st := range tickets.States {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// connectionString is how to reach database db on the projects cluster, as
// the project's owner role and without any password: host and port from the
// cluster's admin URL, nothing else of it (its user and password are the
// portal's superuser's).
func connectionString(adminURL, db string) string {
	u, err := url.Parse(adminURL)
	if err != nil || u.Host == "" {
		return ""
	}
	out := url.URL{Scheme: "postgres", User: url.User(cluster.OwnerRoleFor(db)), Host: u.Host, Path: "/" + db}
	return out.String()
}

// skippedNote explains snapshots newer than the resolved one, up to the
// requested time, that cannot be restored: why, and what skipping them costs.
func skippedNote(near []tickets.Snapshot, resolved tickets.Snapshot, at time.Time) string {
	var out string
	for _, n := range near {
		if n.Usable || !n.TakenAt.After(resolved.TakenAt) || n.TakenAt.After(at) {
			continue
		}
		out += fmt.Sprintf(" The newer snapshot of %s is not usable (%s); skipping it costs %s of data.",
			templates.FormatTime(n.TakenAt), n.Reason, templates.FormatDuration(n.TakenAt.Sub(resolved.TakenAt)))
	}
	return out
}

// earliestUsable is the oldest usable snapshot among near.
func earliestUsable(near []tickets.Snapshot) (tickets.Snapshot, bool) {
	var first tickets.Snapshot
	found := false
	for _, n := range near {
		if n.Usable && (!found || n.TakenAt.Before(first.TakenAt)) {
			first, found = n, true
		}
	}
	return first, found
}
