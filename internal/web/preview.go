package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

// previewOf computes ticket t's plan in numbers, reading the live database
// on the project's cluster read-only. A cluster that is not configured
// leaves the live side out and says why; it never fails the caller.
func (s *Server) previewOf(ctx context.Context, t tickets.Ticket) (tickets.Preview, error) {
	cl, cerr := s.projectCluster(ctx, t.ProjectRef)
	p, err := tickets.BuildPreview(ctx, s.Pool, cl, t, tickets.PreviewOptions{
		ExactRows:     int64(s.Config.PreviewExactRows),
		KeepFor:       s.Config.Worker.KeepFor,
		SafetyKeepFor: s.Config.Snapshots.SafetyKeepFor,
	})
	if err == nil && cerr != nil {
		p.LiveError = "the project's cluster is not available: " + cerr.Error()
	}
	return p, err
}

// ticketPreview fills the approval page's preview for the states in which
// a plan waits for its go (ready, awaiting approval), and the staged review
// of a paused restore. What cannot be computed shows why in its place; the
// page still renders.
func (s *Server) ticketPreview(ctx context.Context, t tickets.Ticket, p *templates.TicketPage) {
	if err := s.ticketReview(ctx, t, p); err != nil {
		s.Log.Warn("ticket staged review", "ticket_id", t.ID, "err", err)
		p.Review.Error = "The staged review could not be read: " + err.Error()
	}
	if t.SnapshotID == 0 || (t.State != tickets.StateReady && t.State != tickets.StateAwaitingApproval) {
		return
	}
	v, err := s.previewOf(ctx, t)
	if err != nil {
		s.Log.Warn("ticket preview", "ticket_id", t.ID, "err", err)
		p.Preview.Error = "The preview could not be computed: " + err.Error()
		return
	}
	p.Preview.Preview = &v
}

// apiTicketPreview is GET /api/v1/tickets/{id}/preview: the plan in numbers,
// for anyone who may read the ticket (as GET /api/v1/tickets/{id}).
func (s *Server) apiTicketPreview(c echo.Context) error {
	t, err := s.pathTicket(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.previewOf(ctx, t)
	if errors.Is(err, tickets.ErrNoPreview) {
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}
