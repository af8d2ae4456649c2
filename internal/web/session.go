package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

// Cookie names.
const (
	sessionCookie   = "portal_session"
	loginCSRFCookie = "portal_login_csrf"
	flashCookie     = "portal_flash"
	csrfFormField   = "_csrf"
	csrfHeader      = "X-CSRF-Token"
	ctxUser         = "user"    // *auth.User
	ctxCSRF         = "csrf"    // string, the session's CSRF token
	ctxSession      = "session" // auth.Session
	ctxSessionToken = "session_token"
	ctxViaToken     = "via_token" // bool: authenticated by an API token
)

func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.Config.SecureCookies, SameSite: http.SameSiteLaxMode}
}

// authenticate finds who is calling: an API token in Authorization: Bearer,
// or a session cookie. It never refuses; requireLogin does.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
			secret, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				return echo.NewHTTPError(http.StatusUnauthorized, "use Authorization: Bearer <API token>")
			}
			u, err := auth.TokenAuthenticate(ctx, s.Pool, strings.TrimSpace(secret))
			if errors.Is(err, auth.ErrNotFound) {
				return echo.NewHTTPError(http.StatusUnauthorized, "the API token is unknown or revoked")
			}
			if err != nil {
				return err
			}
			c.Set(ctxUser, &u)
			c.Set(ctxViaToken, true)
			return next(c)
		}
		if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
			sess, err := auth.SessionGet(ctx, s.Pool, ck.Value)
			switch {
			case err == nil:
				c.Set(ctxUser, &sess.User)
				c.Set(ctxCSRF, sess.CSRFToken)
				c.Set(ctxSession, sess)
				c.Set(ctxSessionToken, ck.Value)
			case errors.Is(err, auth.ErrNotFound):
				c.SetCookie(s.cookie(sessionCookie, "", -1))
			default:
				return err
			}
		}
		return next(c)
	}
}

func currentUser(c echo.Context) *auth.User {
	u, _ := c.Get(ctxUser).(*auth.User)
	return u
}

func isAPI(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/api/") }

// requireLogin refuses anonymous requests: 401 for the API, a redirect to the
// login page for pages.
func (s *Server) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return next(c)
		}
		r := c.Request()
		if isAPI(c) || isRiverUI(r.URL.Path) && r.Method != http.MethodGet || r.URL.Path == "/live/progress" {
			return echo.NewHTTPError(http.StatusUnauthorized, "log in or send an API token")
		}
		next := "/"
		if r.Method == http.MethodGet {
			next = r.URL.RequestURI()
		}
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
	}
}

// requireRole refuses users below min.
func (s *Server) requireRole(min auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if u := currentUser(c); u == nil || !u.Role.AtLeast(min) {
				return echo.NewHTTPError(http.StatusForbidden, "this needs the "+string(min)+" role")
			}
			return next(c)
		}
	}
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// checkCSRF refuses state-changing requests of a browser session without the
// session's CSRF token (form field _csrf or header X-CSRF-Token). API token
// requests carry no cookie and need none. River's UI posts JSON without our
// token: there a same-origin check stands in.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !unsafeMethod(r.Method) || c.Get(ctxViaToken) == true {
			return next(c)
		}
		sess, ok := c.Get(ctxSession).(auth.Session)
		if !ok {
			return echo.NewHTTPError(http.StatusForbidden, "missing or wrong CSRF token; reload the page and try again")
		}
		if isRiverUI(r.URL.Path) {
			if sameOrigin(r) {
				return next(c)
			}
			return echo.NewHTTPError(http.StatusForbidden, "cross-site request refused")
		}
		token := r.Header.Get(csrfHeader)
		if token == "" {
			token = c.FormValue(csrfFormField)
		}
		if !sess.CheckCSRF(token) {
			return echo.NewHTTPError(http.StatusForbidden, "missing or wrong CSRF token; reload the page and try again")
		}
		return next(c)
	}
}

func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Referer")
	}
	u, err := url.Parse(origin)
	return err == nil && origin != "" && u.Host == r.Host
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// base is the layout's props of a page: user, CSRF token, the flash message
// of the previous action (read once).
func (s *Server) base(c echo.Context, title, nav string) templates.Base {
	b := templates.Base{Title: title, Nav: nav, User: currentUser(c)}
	b.CSRF, _ = c.Get(ctxCSRF).(string)
	b.Canonical = canonicalURL(c.Request())
	if ck, err := c.Cookie(flashCookie); err == nil && ck.Value != "" {
		if v, err := url.QueryUnescape(ck.Value); err == nil {
			kind, text, _ := strings.Cut(v, ":")
			b.Flash = templates.Flash{Kind: kind, Text: text}
		}
		c.SetCookie(s.cookie(flashCookie, "", -1))
	}
	return b
}

// redirectFlash redirects (303) with a one-time message for the next page.
func (s *Server) redirectFlash(c echo.Context, to, kind, text string) error {
	c.SetCookie(s.cookie(flashCookie, url.QueryEscape(kind+":"+text), 60))
	return c.Redirect(http.StatusSeeOther, to)
}

func (s *Server) actor(c echo.Context) tickets.Actor {
	u := currentUser(c)
	if u == nil {
		return tickets.Actor{Address: c.RealIP()}
	}
	return tickets.UserActor(*u, c.RealIP())
}

func (s *Server) loginForm(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return s.renderLogin(c, http.StatusOK, "", c.QueryParam("next"), "")
}

func (s *Server) renderLogin(c echo.Context, status int, email, next, msg string) error {
	// Keep the token of an earlier visit, so two open login tabs (or a
	// prefetch) do not invalidate each other's forms.
	token := ""
	if ck, err := c.Cookie(loginCSRFCookie); err == nil && len(ck.Value) >= 32 {
		token = ck.Value
	} else {
		token = randomString()
	}
	c.SetCookie(s.cookie(loginCSRFCookie, token, 3600))
	b := templates.Base{Title: "Log in", CSRF: token}
	return renderPage(c, status, templates.Login(templates.LoginPage{Base: b, Email: email, Next: safeNext(next), Error: msg}))
}

// safeNext keeps redirects after login on this site: only a same-origin
// absolute path ("/tickets?x=1") is kept, else "/". Browsers drop tabs and
// line breaks from URLs and read a backslash as a slash, so "/\t/evil" and
// "/\evil" would leave the site: control characters, spaces, backslashes
// (also percent-encoded ones, which some proxies decode), a leading "//",
// schemes and hosts are refused.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || !utf8.ValidString(next) || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\ ") {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || unicode.IsSpace(r) {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") || strings.ContainsAny(u.Path, "\\") {
		return "/"
	}
	for _, r := range u.Path {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	return next
}

// login checks the double-submitted login CSRF token, then the credentials
// (throttled per account and address), and starts a session.
func (s *Server) login(c echo.Context) error {
	ck, err := c.Cookie(loginCSRFCookie)
	form := c.FormValue(csrfFormField)
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		return echo.NewHTTPError(http.StatusForbidden, "missing or wrong CSRF token; reload the login page and try again")
	}
	email, next := c.FormValue("email"), c.FormValue("next")
	sess, err := auth.Login(c.Request().Context(), s.Pool, email, c.FormValue("password"), c.RealIP())
	switch {
	case errors.Is(err, auth.ErrThrottled):
		return s.renderLogin(c, http.StatusTooManyRequests, email, next, err.Error())
	case errors.Is(err, auth.ErrBadCredentials):
		return s.renderLogin(c, http.StatusUnauthorized, email, next, err.Error())
	case err != nil:
		return err
	}
	c.SetCookie(s.cookie(loginCSRFCookie, "", -1))
	c.SetCookie(s.cookie(sessionCookie, sess.Token, int(auth.SessionIdle.Seconds())))
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

func (s *Server) logout(c echo.Context) error {
	if sess, ok := c.Get(ctxSession).(auth.Session); ok {
		token, _ := c.Get(ctxSessionToken).(string)
		if err := auth.Logout(c.Request().Context(), s.Pool, sess, token, c.RealIP()); err != nil {
			return err
		}
	}
	c.SetCookie(s.cookie(sessionCookie, "", -1))
	return c.Redirect(http.StatusSeeOther, "/login")
}
