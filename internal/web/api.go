package web

import (
	"encoding/json"
	"errors"
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
	g.POST("/api/v1/tickets/:id/approve", s.apiTicketApprove)
	g.POST("/api/v1/tickets/:id/cancel", s.apiTicketCancel)
	g.POST("/api/v1/tickets/:id/rollback", s.apiTicketRollback)
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
	JobID          int64             `json:"job_id,omitempty"`
	RollbackJobID  int64             `json:"rollback_job_id,omitempty"`
	Progress       *tickets.Progress `json:"progress,omitempty"`
	Result         *tickets.Result   `json:"result,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	// PreparationError says why a created ticket could not be prepared
	// automatically (it stays new for a person to triage).
	PreparationError string `json:"preparation_error,omitempty"`
}

func (s *Server) toJSON(t tickets.Ticket) ticketJSON {
	return ticketJSON{ID: t.ID, URL: s.Config.BaseURL + "/tickets/" + strconv.FormatInt(t.ID, 10), Source: t.Source,
		Subject: t.Subject, State: t.State, ProjectRef: t.ProjectRef, RequesterEmail: t.RequesterEmail,
		RequestedAt: t.RequestedAt, RequestedTZ: t.RequestedTZ, SnapshotID: t.SnapshotID, Scope: t.Scope, Mode: t.Mode,
		Options: t.Options, PreparedBy: t.PreparedByName, ApprovedBy: t.ApprovedByName, JobID: t.JobID,
		RollbackJobID: t.RollbackJobID, Progress: t.Progress, Result: t.Result, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20))
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
			out = s.toJSON(p)
		}
	} else {
		out.PreparationError = "no usable snapshot resolves the requested time; a person must choose one on the ticket page"
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) apiTicketGet(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	t, err := tickets.TicketGet(c.Request().Context(), s.Pool, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toJSON(t))
}

func (s *Server) apiTicketList(c echo.Context) error {
	page, _ := strconv.Atoi(c.QueryParam("page"))
	per, _ := strconv.Atoi(c.QueryParam("per_page"))
	f := tickets.Filter{State: tickets.State(c.QueryParam("state")), ProjectRef: c.QueryParam("project"),
		Requester: c.QueryParam("requester"), Query: c.QueryParam("q"), Page: page, PerPage: per}
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
}

// apiTicketApprove approves a destructive restore awaiting approval (with
// confirm_ref), or starts a ready new-project restore.
func (s *Server) apiTicketApprove(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	var req confirmRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := tickets.TicketGet(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	if t.State == tickets.StateReady && !t.Destructive() {
		t, err = tickets.Start(ctx, s.Pool, s.River, s.actor(c), id)
	} else {
		t, err = tickets.Approve(ctx, s.Pool, s.River, s.actor(c), id, req.ConfirmRef)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toJSON(t))
}

func (s *Server) apiTicketCancel(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	var req confirmRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	t, err := tickets.Cancel(c.Request().Context(), s.Pool, s.actor(c), id, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toJSON(t))
}

func (s *Server) apiTicketRollback(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	var req confirmRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	t, err := tickets.RequestRollback(c.Request().Context(), s.Pool, s.River, s.actor(c), id, req.ConfirmRef)
	if errors.Is(err, tickets.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no such ticket")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toJSON(t))
}
