package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/tickets"
)

// The JSON API: the same domain calls, rules and validation as the pages.
// Authenticate with Authorization: Bearer <token> (made on /account), or a
// browser session plus the X-CSRF-Token header.

func (s *Server) apiRoutes(g *echo.Group) {
	g.GET("/api/v1/tickets", s.apiTicketList)
	g.POST("/api/v1/tickets", s.apiTicketCreate)
	g.GET("/api/v1/tickets/:id", s.apiTicketGet)
	g.GET("/api/v1/tickets/:id/preview", s.apiTicketPreview)
	g.POST("/api/v1/tickets/:id/approve", s.apiTicketApprove)
	g.POST("/api/v1/tickets/:id/cancel", ticketVerb(s, apiTicketCancel))
	g.POST("/api/v1/tickets/:id/rollback", ticketVerb(s, apiTicketRollback))
	s.apiTriageRoutes(g)
}

// ticketJSON is a ticket as the API shows it.
type ticketJSON struct {
	ID             int64             `json:"id"`
	URL            string            `json:"url"`
	Source         tickets.Source    `json:"source"`
	Subject        string            `json:"subject"`
	State          tickets.State     `json:"state"`
	ProjectRef     string            `json:"project_ref"`
	RequesterEmail string            `json:"requester_email"`
	RequestedAt    *time.Time        `json:"requested_at"`
	RequestedTZ    string            `json:"requested_tz"`
	SnapshotID     int64             `json:"snapshot_id,omitempty"`
	Scope          tickets.Scope     `json:"scope"`
	Mode           tickets.Mode      `json:"mode"`
	Options        tickets.Options   `json:"options"`
	PreparedBy     string            `json:"prepared_by,omitempty"`
	ApprovedBy     string            `json:"approved_by,omitempty"`
	Assignee       string            `json:"assignee,omitempty"`
	JobID          int64             `json:"job_id,omitempty"`
	RollbackJobID  int64             `json:"rollback_job_id,omitempty"`
	Progress       *tickets.Progress `json:"progress,omitempty"`
	Result         *tickets.Result   `json:"result,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	// PreparationError says why a created ticket could not be prepared
	// automatically (it stays new for a person to triage).
	PreparationError string `json:"preparation_error,omitempty"`
	// PlanDigest is the digest of the ticket's current plan: an approval
	// sends it back (plan_digest), so it approves the plan its caller read.
	PlanDigest string `json:"plan_digest,omitempty"`
	// RollbackDigest is the digest of the rollback a succeeded restore
	// allows, sent back by a rollback request (rollback_digest).
	RollbackDigest string `json:"rollback_digest,omitempty"`
}

// withDigests adds the plan and rollback digests a caller needs to approve
// what it read.
func (s *Server) withDigests(ctx context.Context, out ticketJSON, t tickets.Ticket) (ticketJSON, error) {
	if t.SnapshotID != 0 {
		if p, err := tickets.CurrentPlan(ctx, s.catalog, t); err == nil {
			out.PlanDigest = p.Digest()
		}
	}
	if t.Result.Rollbackable(time.Now()) {
		rp, err := tickets.CurrentRollbackPlan(ctx, s.Pool, t)
		if err != nil {
			return out, err
		}
		out.RollbackDigest = rp.Digest()
	}
	return out, nil
}

// ticketOut is a ticket as a single-ticket answer shows it, with digests.
func (s *Server) ticketOut(c echo.Context, status int, t tickets.Ticket) error {
	out, err := s.withDigests(c.Request().Context(), s.toJSON(t), t)
	if err != nil {
		return err
	}
	return c.JSON(status, out)
}

func (s *Server) toJSON(t tickets.Ticket) ticketJSON {
	return ticketJSON{ID: t.ID, URL: s.Config.BaseURL + "/tickets/" + strconv.FormatInt(t.ID, 10), Source: t.Source,
		Subject: t.Subject, State: t.State, ProjectRef: t.ProjectRef, RequesterEmail: t.RequesterEmail,
		RequestedAt: t.RequestedAt, RequestedTZ: t.RequestedTZ, SnapshotID: t.SnapshotID, Scope: t.Scope, Mode: t.Mode,
		Options: t.Options, PreparedBy: t.PreparedByName, ApprovedBy: t.ApprovedByName, Assignee: t.AssigneeName, JobID: t.JobID,
		RollbackJobID: t.RollbackJobID, Progress: t.Progress, Result: t.Result, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// ticketBody is the ticket id of the request's path and its JSON body.
func ticketBody[T any](c echo.Context) (int64, T, error) {
	var req T
	id, err := ticketID(c)
	if err != nil {
		return 0, req, err
	}
	err = decodeJSON(c, &req)
	return id, req, err
}

// decodeJSON reads a JSON body of at most 1 MiB. A NUL escape is refused:
// no field of the API takes one, and Postgres text cannot hold it.
func decodeJSON(c echo.Context, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the body could not be read: "+err.Error())
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		return echo.NewHTTPError(http.StatusBadRequest, "the body holds a NUL character")
	}
	// A verb that needs no field takes an empty body.
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the body is not the expected JSON: "+err.Error())
	}
	return nil
}

type createTicketRequest struct {
	ProjectRef     string        `json:"project_ref"`
	RequestedAt    string        `json:"requested_at"`
	RequestedTZ    string        `json:"requested_tz"`
	Scope          tickets.Scope `json:"scope"`
	Mode           string        `json:"mode"`
	RequesterEmail string        `json:"requester_email"`
	Subject        string        `json:"subject"`
	Note           string        `json:"note"`
	// Options: target_ref (new project), keep_days, allow_dangling.
	Options tickets.Options `json:"options"`
}

// apiTicketCreate creates a ticket; when the requested time resolves to a
// usable snapshot it is prepared with the given scope and mode, and a
// destructive one is submitted for approval, all as the caller.
func (s *Server) apiTicketCreate(c echo.Context) error {
	var req createTicketRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Mode == "" {
		return &tickets.ValidationError{Field: "mode", Msg: "is required: destructive or new_project"}
	}
	n, err := newTicketParams(tickets.SourceAPI, req.ProjectRef, req.RequesterEmail, req.RequestedAt, req.RequestedTZ,
		string(req.Scope.Kind), req.Scope.Tables, req.Mode, req.Note)
	if err != nil {
		return err
	}
	n.Subject, n.Options = req.Subject, req.Options
	ctx := c.Request().Context()
	a := s.actor(c)
	t, err := tickets.Create(ctx, s.Pool, s.catalog, a, n)
	if err != nil {
		return err
	}
	out := s.toJSON(t)
	if t.SnapshotID != 0 {
		p, err := tickets.Prepare(ctx, s.Pool, s.catalog, a, t.ID, tickets.Preparation{SnapshotID: t.SnapshotID, Scope: t.Scope, Mode: t.Mode, Options: t.Options})
		if err == nil && p.Destructive() {
			p, err = tickets.Submit(ctx, s.Pool, a, t.ID)
		}
		if err != nil {
			if !userFacing(err) {
				return err
			}
			_, msg, _ := statusOf(err)
			out.PreparationError = msg
		} else {
			out, t = s.toJSON(p), p
		}
	} else {
		out.PreparationError = "no usable snapshot resolves the requested time; a person must choose one on the ticket page"
	}
	out, err = s.withDigests(ctx, out, t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) apiTicketGet(c echo.Context) error {
	t, err := s.pathTicket(c)
	if err != nil {
		return err
	}
	return s.ticketOut(c, http.StatusOK, t)
}

// pathTicket is the ticket the request's path names.
func (s *Server) pathTicket(c echo.Context) (tickets.Ticket, error) {
	id, err := ticketID(c)
	if err != nil {
		return tickets.Ticket{}, err
	}
	return tickets.TicketGet(c.Request().Context(), s.Pool, id)
}

func (s *Server) apiTicketList(c echo.Context) error {
	page, err := queryInt(c, "page", 1, 1, maxPage)
	if err != nil {
		return err
	}
	per, err := queryInt(c, "per_page", 50, 1, 200)
	if err != nil {
		return err
	}
	f := tickets.Filter{State: tickets.State(c.QueryParam("state")), ProjectRef: c.QueryParam("project"),
		Requester: c.QueryParam("requester"), Query: c.QueryParam("q"), Page: int(page), PerPage: int(per)}
	if f.State != "" && !f.State.Valid() {
		return &paramError{Field: "state", Msg: fmt.Sprintf("%q is not a ticket state; one of %s", f.State, stateNames())}
	}
	list, err := tickets.TicketList(c.Request().Context(), s.Pool, f)
	if err != nil {
		return err
	}
	out := struct {
		Tickets []ticketJSON `json:"tickets"`
		Total   int          `json:"total"`
		Page    int          `json:"page"`
		PerPage int          `json:"per_page"`
	}{Tickets: []ticketJSON{}, Total: list.Total, Page: list.Page, PerPage: list.PerPage}
	for _, t := range list.Tickets {
		out.Tickets = append(out.Tickets, s.toJSON(t))
	}
	return c.JSON(http.StatusOK, out)
}

type confirmRequest struct {
	ConfirmRef string `json:"confirm_ref"`
	Reason     string `json:"reason"`
	// PlanDigest (approve) and RollbackDigest (rollback) are the digests the
	// caller read from GET /api/v1/tickets/:id.
	PlanDigest     string `json:"plan_digest"`
	RollbackDigest string `json:"rollback_digest"`
}

// apiTicketApprove approves a destructive restore awaiting approval (with
// confirm_ref and the plan_digest read from the ticket: a changed plan is
// refused with 409). Deprecated use: it also starts a ready new-project
// restore, answering with a Deprecation header; scripts use /start.
func (s *Server) apiTicketApprove(c echo.Context) error {
	id, req, err := ticketBody[confirmRequest](c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := tickets.TicketGet(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	if t.State == tickets.StateReady && !t.Destructive() {
		// Deprecated: starting a new-project restore is POST .../start; this
		// endpoint keeps doing it for old scripts, and says so.
		c.Response().Header().Set("Deprecation", "true")
		c.Response().Header().Set("Link", fmt.Sprintf(`</api/v1/tickets/%d/start>; rel="successor-version"`, id))
		t, err = tickets.Start(ctx, s.Pool, s.River, s.actor(c), id)
	} else {
		t, err = tickets.ApprovePlan(ctx, s.Pool, s.catalog, s.River, s.actor(c), id,
			tickets.Approval{ConfirmRef: req.ConfirmRef, PlanDigest: req.PlanDigest, TTL: s.Config.ApprovalTTL})
	}
	var pc *tickets.PlanChangedError
	if errors.As(err, &pc) {
		body := map[string]any{"error": pc.Error(), "field": "plan_digest", "plan_digest": pc.Current.Digest(), "changes": pc.Changes}
		if pc.Current.TicketID == 0 {
			delete(body, "plan_digest")
		}
		return c.JSON(http.StatusConflict, body)
	}
	if err != nil {
		return err
	}
	return s.ticketOut(c, http.StatusOK, t)
}

// apiTicketCancel cancels the ticket, with the reason given.
func apiTicketCancel(ctx context.Context, s *Server, a tickets.Actor, id int64, req confirmRequest) (tickets.Ticket, error) {
	return tickets.Cancel(ctx, s.Pool, a, id, req.Reason)
}

// apiTicketRollback queues the rollback of a done restore, with the ref
// typed and the rollback_digest read from the ticket.
func apiTicketRollback(ctx context.Context, s *Server, a tickets.Actor, id int64, req confirmRequest) (tickets.Ticket, error) {
	t, err := tickets.RequestRollbackPlan(ctx, s.Pool, s.River, a, id, tickets.Approval{ConfirmRef: req.ConfirmRef, PlanDigest: req.RollbackDigest})
	if errors.Is(err, tickets.ErrNotFound) {
		return t, echo.NewHTTPError(http.StatusNotFound, "no such ticket")
	}
	return t, err
}
