// Package web is the portal's HTTP face: the echo router, its middleware, the
// page and JSON API handlers, and the one error handler that maps errors to
// statuses and pages. Handlers call domain packages; they hold no SQL.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/tickets"
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
	catalog tickets.Catalog

	riverUIOnce sync.Once
	riverUI     http.Handler
	riverUIErr  error
	// bg is the life of the River UI's background services (its query
	// cachers); stopBG ends it (riverui.go).
	bg     context.Context
	stopBG context.CancelFunc
	// bgStopped silences the River UI's logger once stopped: a query cut by
	// the stop would log its cancellation after the portal closed its pool.
	bgStopped atomic.Bool
}

// New builds the router exactly as the portal serves it; tests use it too.
// The River UI's background services it may start run until the process
// ends: NewServer gives the function that stops them.
func New(d Deps) *echo.Echo {
	e, _ := NewServer(d)
	return e
}

// NewServer is New with the function that stops the router's background
// services (River UI's query cachers, which poll the pool every 10 s): call
// it before the pool closes, after the HTTP server has shut down.
func NewServer(d Deps) (*echo.Echo, func()) {
	s := &Server{Deps: d}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	// Prepare refuses a new-project target that exists on the cluster of
	// the ticket's project (rollback.go's projectCluster).
	s.catalog = tickets.SnapshotCatalogFor(d.Pool, func(ctx context.Context, ref string) (tickets.Databases, error) {
		cl, err := s.projectCluster(ctx, ref)
		if err != nil {
			return nil, err
		}
		return cl, nil
	})
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	// The client address is the TCP peer's: login throttling per address must
	// not trust a header the client writes.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recoverPanics, s.logRequests, s.securityHeaders, s.checkInput, s.authenticate)
	s.routes(e)
	return e, s.stopBackground
}

// publicRoutes are the only routes served without a login or API token; the
// route test checks every other route refuses anonymous requests.
var publicRoutes = map[string]bool{
	"GET /healthz":       true,
	"GET /readyz":        true,
	"GET /login":         true,
	"POST /login":        true,
	"GET /static/*":      true,
	"POST /intake/email": true,
}

func (s *Server) routes(e *echo.Echo) {
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/login", s.loginForm)
	e.POST("/login", s.login)
	e.GET("/static/*", s.static)
	e.POST("/intake/email", s.intakeEmail)

	app := e.Group("", s.requireLogin, s.checkCSRF)
	app.POST("/logout", s.logout)
	app.GET("/", s.dashboard)
	app.GET("/tickets", s.ticketList)
	app.GET("/tickets/new", s.ticketNewForm, s.requireRole("operator"))
	app.POST("/tickets", s.ticketCreate, s.requireRole("operator"))
	app.GET("/tickets/:id", s.ticketShow)
	app.GET("/tickets/:id/tables", s.ticketTables)
	app.GET("/tickets/:id/:action", s.ticketFormGet)
	s.ticketActionRoutes(app)
	app.GET("/live/progress", s.liveProgress)
	app.GET("/audit", s.auditList)
	app.GET("/account", s.account)
	app.POST("/account/tokens", s.tokenCreate)
	app.POST("/account/tokens/:id/revoke", s.tokenRevoke)
	app.GET("/users", s.userList, s.requireRole("admin"))
	app.POST("/users", s.userCreate, s.requireRole("admin"))
	app.POST("/users/:id", s.userUpdate, s.requireRole("admin"))
	app.POST("/users/:id/password", s.userSetPassword, s.requireRole("admin"))
	app.Any("/riverui", s.riverUIRedirect, s.requireRole("admin"))
	app.Any("/riverui/*", s.riverUIHandler, s.requireRole("admin"))
	s.apiRoutes(app)
	s.projectRoutes(app)
	s.proposalRoutes(app)
	s.projectRegistrationRoutes(app)
	s.stagedRoutes(app)
	s.drillRoutes(app)
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

// Content security policies: the portal's pages load only their own assets;
// River's UI (a React app) also needs inline styles, which its components set.
const (
	pageCSP    = "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
	riverUICSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'"
)

// securityHeaders keeps every response, River's UI and errors included, out
// of frames, other sites' scripts and content sniffing.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if isRiverUI(c.Request().URL.Path) {
			h.Set("Content-Security-Policy", riverUICSP)
		} else {
			h.Set("Content-Security-Policy", pageCSP)
		}
		return next(c)
	}
}
