package web

import (
	"context"
	"net/http"
	"strings"

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
// run for the life of the process.
func (s *Server) riverUIHandler(c echo.Context) error {
	s.riverUIOnce.Do(func() {
		if s.River == nil {
			s.riverUIErr = echo.NewHTTPError(http.StatusServiceUnavailable, "the job queue UI needs a River client")
			return
		}
		h, err := riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(s.River, nil),
			Logger:    s.Log,
			Prefix:    riverUIPrefix,
		})
		if err != nil {
			s.riverUIErr = err
			return
		}
		if err := h.Start(context.Background()); err != nil {
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
