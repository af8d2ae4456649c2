package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// TestRenderFailureIsALogged500: a template that fails half-way writes
// nothing of itself; the error handler answers 500 and logs it. Before,
// the status was written first and the page came out a truncated 200 with
// no log line.
func TestRenderFailureIsALogged500(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := &Server{Deps: Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))}}
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	broken := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, _ = io.WriteString(w, "<p>half a page")
		return errors.New("template exploded")
	})
	e.GET("/broken", func(c echo.Context) error { return renderPage(c, http.StatusOK, broken) })
	e.GET("/stream", func(c echo.Context) error {
		c.Response().WriteHeader(http.StatusOK)
		_, _ = c.Response().Write([]byte("data: 1\n\n"))
		return errors.New("stream broke")
	})

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/broken", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "half a page") {
		t.Fatalf("the failed template's output was sent: %q", rec.Body.String())
	}
	if !strings.Contains(logs.String(), "template exploded") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("render failure not logged at Error: %q", logs.String())
	}

	logs.Reset()
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stream", nil))
	if !strings.Contains(logs.String(), "stream broke") || !strings.Contains(logs.String(), "after the response began") {
		t.Fatalf("an error after the response began is not logged: %q", logs.String())
	}
}
