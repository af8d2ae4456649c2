package web

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/dbx"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

// statusOf maps domain errors to HTTP statuses and a message a person can act
// on; field names the form field at fault, if any.
func statusOf(err error) (code int, msg, field string) {
	var he *echo.HTTPError
	var ve *tickets.ValidationError // also auth.ValidationError: the same type
	var pe *tickets.PermissionError
	var te *tickets.TransitionError
	var pae *paramError
	switch {
	case errors.As(err, &he):
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	case errors.As(err, &pae):
		return http.StatusBadRequest, pae.Error(), pae.Field
	case errors.Is(err, tickets.ErrConflict) && errors.As(err, &ve): // a tickets.ConflictError
		return http.StatusConflict, ve.Error(), ve.Field
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, ve.Error(), ve.Field
	case errors.As(err, &pe):
		return http.StatusForbidden, pe.Error(), ""
	case errors.As(err, &te):
		return http.StatusConflict, te.Error(), ""
	case errors.Is(err, tickets.ErrConflict), errors.Is(err, tickets.ErrRestoreInProgress), errors.Is(err, auth.ErrEmailTaken),
		errors.Is(err, tickets.ErrPlanChanged), errors.Is(err, tickets.ErrApprovalLapsed):
		return http.StatusConflict, err.Error(), ""
	case errors.Is(err, dbx.ErrNotFound): // every domain's not-found sentinel is of this kind
		return http.StatusNotFound, "not found", ""
	default:
		return http.StatusInternalServerError, "internal error; it has been logged", ""
	}
	return code, msg, ""
}

// userFacing says whether err is one the person can fix (a 4xx).
func userFacing(err error) bool {
	code, _, _ := statusOf(err)
	return code >= 400 && code < 500
}

// handleError is the one place errors become responses: 5xx are logged at
// Error with the request, 4xx at Info. The API gets JSON, pages get the
// error page in the layout.
// A response already committed (a stream cut short) cannot change status;
// its error is logged all the same.
func (s *Server) handleError(err error, c echo.Context) {
	code, msg, field := statusOf(err)
	r := c.Request()
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", code, "err", err}
	if c.Response().Committed {
		s.Log.Error("request failed after the response began", append(attrs, "sent_status", c.Response().Status)...)
		return
	}
	if code >= 500 {
		s.Log.Error("request failed", attrs...)
	} else {
		s.Log.Info("request refused", attrs...)
	}
	if r.Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	switch {
	case isAPI(c) || strings.Contains(r.Header.Get(echo.HeaderAccept), "application/json"):
		body := map[string]string{"error": msg}
		if field != "" {
			body["field"] = field
		}
		_ = c.JSON(code, body)
	case r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || strings.HasPrefix(r.URL.Path, "/static/"):
		_ = c.String(code, msg+"\n")
	default:
		b := templates.Base{Title: http.StatusText(code), User: currentUser(c)}
		b.CSRF, _ = c.Get(ctxCSRF).(string)
		_ = renderPage(c, code, templates.Error(templates.ErrorPage{Base: b, Status: code, Message: msg}))
	}
}

// renderPage writes a templ component as an HTML page. It renders into a
// buffer first, so a template that fails leaves the response unwritten and
// its error reaches handleError as a logged 500, never a truncated 200.
func renderPage(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return fmt.Errorf("render page: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

var staticFS, _ = fs.Sub(templates.Static, "static")

// static serves the embedded CSS and script, cached for a day (URLs carry a
// version).
func (s *Server) static(c echo.Context) error {
	name := path.Clean(c.Param("*"))
	b, err := fs.ReadFile(staticFS, name)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "no such file")
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	return c.Blob(http.StatusOK, ct, b)
}
