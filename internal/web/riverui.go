package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"riverqueue.com/riverui"
)

const riverUIPrefix = "/riverui"

func isRiverUI(path string) bool {
	return path == riverUIPrefix || strings.HasPrefix(path, riverUIPrefix+"/")
}

func (s *Server) riverUIRedirect(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, riverUIPrefix+"/")
}

// riverUIHandler serves River's own UI, for admins only (the route's
// middleware). The handler is built on first use; its background services
// run until stopBackground.
func (s *Server) riverUIHandler(c echo.Context) error {
	s.riverUIOnce.Do(func() {
		if s.River == nil {
			s.riverUIErr = echo.NewHTTPError(http.StatusServiceUnavailable, "the job queue UI needs a River client")
			return
		}
		var log *slog.Logger
		if s.Log != nil {
			log = slog.New(stoppableHandler{h: s.Log.Handler(), stopped: &s.bgStopped})
		}
		h, err := riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(s.River, nil),
			Logger:    log,
			Prefix:    riverUIPrefix,
		})
		if err != nil {
			s.riverUIErr = err
			return
		}
		if err := h.Start(s.bg); err != nil {
			s.riverUIErr = err
			return
		}
		s.riverUI = h
	})
	if s.riverUIErr != nil {
		return s.riverUIErr
	}
	s.riverUI.ServeHTTP(c.Response(), c.Request())
	return nil
}

// stopBackground ends the River UI's background services. riverui v0.17
// has no Stop that waits: its services end when the context given to Start
// is done, a query cacher between ticks at once; one caught inside its query
// sees the query cancelled and would log that, so the UI's logger is
// silenced first.
func (s *Server) stopBackground() {
	s.bgStopped.Store(true)
	s.stopBG()
}

// stoppableHandler is h until stopped is set, then drops every record.
type stoppableHandler struct {
	h       slog.Handler
	stopped *atomic.Bool
}

func (s stoppableHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !s.stopped.Load() && s.h.Enabled(ctx, l)
}

func (s stoppableHandler) Handle(ctx context.Context, r slog.Record) error {
	if s.stopped.Load() {
		return nil
	}
	return s.h.Handle(ctx, r)
}

func (s stoppableHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return stoppableHandler{h: s.h.WithAttrs(as), stopped: s.stopped}
}

func (s stoppableHandler) WithGroup(name string) slog.Handler {
	return stoppableHandler{h: s.h.WithGroup(name), stopped: s.stopped}
}
