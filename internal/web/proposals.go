package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

// proposalRoutes: staff decide on the changes mail proposed, and see and
// retry the mail that could not be filed.
func (s *Server) proposalRoutes(app *echo.Group) {
	app.POST("/tickets/:id/proposals/:pid/:decision", s.proposalDecide, s.requireRole("operator"))
	app.GET("/mail/unfiled", s.unfiledList)
	app.POST("/mail/unfiled/:mid/retry", s.unfiledRetry, s.requireRole("operator"))
}

// proposalDecide: parse -> accept or dismiss (audited in the domain) ->
// redirect to the ticket; a refusal shows the ticket page with the reason.
func (s *Server) proposalDecide(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	pid, err := strconv.ParseInt(c.Param("pid"), 10, 64)
	if err != nil || pid <= 0 {
		return echo.NewHTTPError(http.StatusNotFound, "no such proposal")
	}
	ctx := c.Request().Context()
	p, err := tickets.ProposalGet(ctx, s.Pool, pid)
	if errors.Is(err, tickets.ErrProposalNotFound) || (err == nil && p.TicketID != id) {
		return echo.NewHTTPError(http.StatusNotFound, "no such proposal on this ticket")
	}
	if err != nil {
		return err
	}
	var done string
	switch c.Param("decision") {
	case "accept":
		_, err = tickets.ProposalAccept(ctx, s.Pool, s.actor(c), pid)
		done = "Proposed change applied as your edit."
	case "trust":
		// The sender is the requester's colleague: their later mail is
		// understood like the requester's. This proposal stays open.
		err = tickets.RequesterAliasTrust(ctx, s.Pool, s.actor(c), id, p.From)
		done = fmt.Sprintf("%s is now listed as the requester's colleague on this ticket.", p.From)
	case "dismiss":
		err = tickets.ProposalDismiss(ctx, s.Pool, s.actor(c), pid, c.FormValue("reason"))
		done = "Proposed change dismissed."
	default:
		return echo.NewHTTPError(http.StatusNotFound, "no such decision")
	}
	return s.ticketActionDone(c, id, err, done)
}

// ticketProposals fills the ticket page's proposals.
func (s *Server) ticketProposals(c echo.Context, p *templates.TicketPage) error {
	list, err := tickets.ProposalListByTicket(c.Request().Context(), s.Pool, p.Ticket.ID)
	p.Proposals = list
	return err
}

func (s *Server) unfiledList(c echo.Context) error {
	list, err := intake.UnfiledList(c.Request().Context(), s.Pool, 200)
	if err != nil {
		return err
	}
	page := templates.UnfiledPage{Base: s.base(c, "Mail not filed", "mail")}
	for _, u := range list {
		page.List = append(page.List, templates.UnfiledMail{ID: u.ID, From: u.From, MessageID: u.MessageID, Subject: u.Subject,
			Error: u.Error, Retries: u.Retries, ReceivedAt: templates.FormatTime(u.ReceivedAt), FailedAt: templates.FormatTime(u.FailedAt), Size: u.Size})
	}
	return renderPage(c, http.StatusOK, templates.Unfiled(page))
}

func (s *Server) unfiledRetry(c echo.Context) error {
	mid, err := strconv.ParseInt(c.Param("mid"), 10, 64)
	if err != nil || mid <= 0 {
		return echo.NewHTTPError(http.StatusNotFound, "no such mail")
	}
	err = intake.MailRetry(c.Request().Context(), s.Pool, s.River, mid)
	if errors.Is(err, intake.ErrNotFailed) {
		return s.redirectFlash(c, "/mail/unfiled", "error", fmt.Sprintf("Mail %d is not waiting for a retry.", mid))
	}
	if err != nil {
		return err
	}
	return s.redirectFlash(c, "/mail/unfiled", "ok", fmt.Sprintf("Mail %d queued again.", mid))
}
