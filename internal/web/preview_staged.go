package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

// The staged review's forms: confirm the cut-over (approver, project ref
// typed again) or abandon it (operator). Both carry the digest of the review
// shown; the domain refuses one of another review or a decided one.

func (s *Server) stagedRoutes(g *echo.Group) {
	g.POST("/tickets/:id/review/confirm", s.reviewConfirm)
	g.POST("/tickets/:id/review/abandon", s.reviewAbandon)
	g.GET("/api/v1/tickets/:id/review", s.apiReviewGet)
	g.POST("/api/v1/tickets/:id/review/confirm", s.apiReviewDecide)
	g.POST("/api/v1/tickets/:id/review/abandon", s.apiReviewDecide)
}

// reviewJSON is a staged review as the API shows it, with the digest a
// decision sends back (review_digest).
type reviewJSON struct {
	tickets.StagedReview
	ReviewDigest string `json:"review_digest"`
}

// apiReviewGet is GET /api/v1/tickets/{id}/review, for anyone who may read
// the ticket; 404 when its restore has not paused for review.
func (s *Server) apiReviewGet(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	rv, err := tickets.StagedReviewGet(c.Request().Context(), s.Pool, id)
	if errors.Is(err, tickets.ErrNoStagedReview) {
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, reviewJSON{StagedReview: rv, ReviewDigest: rv.Digest()})
}

type reviewDecisionRequest struct {
	ReviewDigest string `json:"review_digest"`
	ConfirmRef   string `json:"confirm_ref"`
}

// apiReviewDecide confirms (approver, confirm_ref) or abandons (operator)
// the cut-over of the review whose digest is sent; it answers the ticket.
func (s *Server) apiReviewDecide(c echo.Context) error {
	id, req, err := ticketBody[reviewDecisionRequest](c)
	if err != nil {
		return err
	}
	d := tickets.ReviewDecision{Digest: req.ReviewDigest, ConfirmRef: req.ConfirmRef}
	ctx := c.Request().Context()
	var t tickets.Ticket
	if strings.HasSuffix(c.Path(), "/confirm") {
		t, err = tickets.StagedReviewConfirm(ctx, s.Pool, s.actor(c), id, d)
	} else {
		t, err = tickets.StagedReviewAbandon(ctx, s.Pool, s.actor(c), id, d)
	}
	if err != nil {
		return err
	}
	return s.ticketOut(c, http.StatusOK, t)
}

func (s *Server) reviewConfirm(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	t, err := tickets.StagedReviewConfirm(c.Request().Context(), s.Pool, s.actor(c), id,
		tickets.ReviewDecision{Digest: c.FormValue("review_digest"), ConfirmRef: c.FormValue("confirm_ref")})
	msg := "Cut-over confirmed: the restore continues from the reviewed copy."
	if t.Mode == tickets.ModeUndelete {
		msg = "Merge confirmed: the undelete inserts the reviewed rows from the copy (it reports its own counts again)."
	}
	return s.ticketActionDone(c, id, err, msg)
}

func (s *Server) reviewAbandon(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	t, err := tickets.StagedReviewAbandon(c.Request().Context(), s.Pool, s.actor(c), id,
		tickets.ReviewDecision{Digest: c.FormValue("review_digest")})
	what := "Cut-over"
	if t.Mode == tickets.ModeUndelete {
		what = "Merge"
	}
	return s.ticketActionDone(c, id, err, what+" abandoned: the restored copy is dropped; the live tables are not changed.")
}

// ticketReview fills the staged review panel of a ticket whose restore
// paused (or paused once) for review.
func (s *Server) ticketReview(ctx context.Context, t tickets.Ticket, p *templates.TicketPage) error {
	rv, err := tickets.StagedReviewGet(ctx, s.Pool, t.ID)
	if errors.Is(err, tickets.ErrNoStagedReview) {
		return nil
	}
	if err != nil {
		return err
	}
	r := &p.Review
	r.Review, r.Digest, r.ProjectRef, r.TicketID = &rv, rv.Digest(), t.ProjectRef, t.ID
	r.Undelete = t.Mode == tickets.ModeUndelete
	if t.Result != nil {
		r.Merged = t.Result.Undelete
	}
	verb := "cut-over"
	if r.Undelete {
		verb = "merge"
	}
	if rv.State != tickets.ReviewAwaiting || t.State != tickets.StateRunning || rv.Expired(time.Now()) {
		return nil
	}
	u := p.User
	if u == nil {
		return nil
	}
	r.CanAbandon = u.Role.AtLeast(auth.RoleOperator)
	editor, err := tickets.PlanEditor(ctx, s.Pool, t.ID, u.ID)
	if err != nil {
		return err
	}
	switch {
	case !u.Role.AtLeast(auth.RoleApprover):
		r.ConfirmBlocked = "Waiting for an approver to confirm the " + verb + "."
	case u.ID == t.PreparedBy || editor:
		r.ConfirmBlocked = fmt.Sprintf("You prepared this restore; another approver must confirm its %s (before %s).",
			verb, templates.FormatTime(rv.ExpiresAt))
	default:
		r.CanConfirm = true
	}
	return nil
}
