package web

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

// formErrorOf turns a refused form's error into what the page shows: the
// field at fault (so the message sits beside it, the field is focused and
// marked invalid) and the reason in words, without the field's code name.
// form names the form on pages with several (a ticket action).
func formErrorOf(err error, form string) templates.FormError {
	_, msg, field := statusOf(err)
	var ve *tickets.ValidationError // also auth.ValidationError: the same type
	if errors.As(err, &ve) {
		msg = ve.Msg
	}
	return templates.FormError{Form: form, Field: field, Msg: msg}
}

// ticketPath matches a ticket's page and the URLs its forms post to.
var ticketPath = regexp.MustCompile(`^/tickets/\d+`)

// canonicalURL is the address a page rendered for a POST stands for: the
// browser is moved there (history.replaceState), so a link, a reload or a
// snapshot picked after a refused form never lands on the POST URL.
func canonicalURL(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return ""
	}
	p := r.URL.Path
	switch {
	case p == "/tickets":
		return "/tickets/new"
	case ticketPath.MatchString(p):
		return ticketPath.FindString(p)
	case strings.HasPrefix(p, "/account"):
		return "/account"
	case strings.HasPrefix(p, "/users"):
		return "/users"
	case strings.HasPrefix(p, "/projects/"):
		if ref, _, ok := strings.Cut(strings.TrimPrefix(p, "/projects/"), "/"); ok {
			return "/projects/" + ref
		}
	case strings.HasPrefix(p, "/mail/unfiled"):
		return "/mail/unfiled"
	}
	return ""
}

// ticketFormGet answers a GET of a ticket form's POST URL (a reload or a
// bookmark of the address a refused form left, without script) with the
// ticket page itself instead of a 404.
func (s *Server) ticketFormGet(c echo.Context) error {
	id, err := ticketID(c)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/tickets/%d", id))
}

// ticketTables is the triage's table list for another snapshot of the
// ticket's project, as an HTML fragment: the snapshot picker swaps it in
// without reloading the page (which would drop what was typed).
func (s *Server) ticketTables(c echo.Context) error {
	t, err := s.pathTicket(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	snapID, err := strconv.ParseInt(c.QueryParam("snapshot"), 10, 64)
	if err != nil || snapID <= 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "snapshot: give the snapshot's number")
	}
	snap, err := s.catalog.SnapshotGet(ctx, snapID)
	if err != nil || snap.ProjectRef != t.ProjectRef {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("project %s has no snapshot %d", t.ProjectRef, snapID))
	}
	p := templates.TicketPage{Base: s.base(c, "", "tickets"), Ticket: t, Chosen: &snap}
	if p.Tables, err = s.catalog.SnapshotTables(ctx, snap.ID); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return renderPage(c, http.StatusOK, templates.TablePicker(p))
}
