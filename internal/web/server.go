// Package web is the portal's HTTP face: the echo router, its middleware, the
// page and JSON API handlers, and the one error handler that maps errors to
// statuses and pages. Handlers call domain packages; they hold no SQL.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/objstore"
)

// Deps is what the handlers need, built by cmd/portal.
type Deps struct {
	Config config.Config
	Pool   *pgxpool.Pool
	S3     *s3.Client
	// River inserts jobs (the portal's client is insert-only).
	River *river.Client[pgx.Tx]
	Log   *slog.Logger
}

// Server holds the handlers' dependencies.
type Server struct {
	Deps
}

// New builds the router exactly as the portal serves it; tests use it too.
func New(d Deps) *echo.Echo {
	s := &Server{Deps: d}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recoverPanics, s.logRequests)
	s.routes(e)
	return e
}

func (s *Server) routes(e *echo.Echo) {
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/", s.home)
}

func (s *Server) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// readyz answers 200 when the database and the S3 bucket answer, else 503
// naming the failing part.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	var failed []string
	if err := s.Pool.Ping(ctx); err != nil {
		failed = append(failed, "database: "+err.Error())
	}
	if err := objstore.Check(ctx, s.S3, s.Config.S3.Bucket); err != nil {
		failed = append(failed, "s3: "+err.Error())
	}
	if len(failed) > 0 {
		body := "not ready\n"
		for _, f := range failed {
			body += f + "\n"
		}
		return c.String(http.StatusServiceUnavailable, body)
	}
	return c.String(http.StatusOK, "ready\n")
}

func (s *Server) home(c echo.Context) error {
	return c.String(http.StatusOK, "restore portal\n")
}

func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.Log.Error("panic in handler", "panic", r, "method", c.Request().Method, "path", c.Request().URL.Path)
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		r := c.Request()
		s.Log.Debug("http request", "method", r.Method, "path", r.URL.Path,
			"status", c.Response().Status, "duration_ms", time.Since(start).Milliseconds(), "remote", c.RealIP())
		return nil
	}
}

// handleError is the one place errors become responses: 5xx are logged at
// Error with the request, 4xx at Info.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	msg := "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	}
	r := c.Request()
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", code, "err", err}
	if code >= 500 {
		s.Log.Error("request failed", attrs...)
	} else {
		s.Log.Info("request refused", attrs...)
	}
	_ = c.String(code, msg+"\n")
}
