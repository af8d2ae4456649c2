package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// public is every route served without a login: login, health, the embedded
// assets and mail intake.
var public = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /login": true, "POST /login": true,
	"GET /static/*": true, "POST /intake/email": true,
}

var param = regexp.MustCompile(`:[a-z_]+`)

// TestEveryRouteNeedsLogin walks the router's route list: every route but the
// public ones refuses an anonymous request (401 for the API and streams, a
// redirect to the login page for pages), and a bad API token too.
func TestEveryRouteNeedsLogin(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	anon := p.anon(t)
	checked := 0
	for _, r := range p.e.Routes() {
		key := r.Method + " " + r.Path
		if public[key] || r.Method == "echo_route_not_found" {
			continue
		}
		path := strings.ReplaceAll(param.ReplaceAllString(r.Path, "1"), "*", "x")
		method := r.Method
		if method == "RouteNotFound" {
			continue
		}
		req, _ := http.NewRequest(method, p.srv.URL+path, nil)
		res, body := anon.do(req)
		switch {
		case res.StatusCode == http.StatusUnauthorized:
		case res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/login"):
		default:
			t.Errorf("%s (as %s %s): anonymous got %d %q", key, method, path, res.StatusCode, body)
		}
		req, _ = http.NewRequest(method, p.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer rp_forged")
		if res, _ := anon.do(req); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: forged token got %d", key, res.StatusCode)
		}
		checked++
	}
	t.Logf("%d routes refuse anonymous requests", checked)
	if checked < 20 {
		t.Fatalf("only %d routes checked", checked)
	}
	anon.wantStatus(http.StatusOK, "/healthz", "/login", "/static/style.css")
}

func TestLoginLogoutAndSessionCookie(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	b := p.anon(t)
	res, body := b.get("/tickets")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Ftickets" {
		t.Fatalf("anonymous /tickets: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = b.get("/login?next=/tickets")
	res, _ = b.post("/login", url.Values{"_csrf": {csrfOf(t, body)}, "email": {"Operator@Example.com"},
		"password": {tickettest.Password}, "next": {"/tickets"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/tickets" {
		t.Fatalf("login: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "portal_session" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie: %+v", ck)
	}
	res, body = b.get("/tickets")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "operator@example.com") {
		t.Fatalf("/tickets after login: %d", res.StatusCode)
	}
	b.csrf = csrfOf(t, body)
	// Logout needs the CSRF token too.
	if res, _ := b.post("/logout", url.Values{"_csrf": {"wrong"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without token: %d", res.StatusCode)
	}
	if res, _ := b.post("/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := b.get("/tickets"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d", res.StatusCode)
	}
	// An open redirect is refused.
	b2 := p.anon(t)
	_, body = b2.get("/login")
	res, _ = b2.post("/login", url.Values{"_csrf": {csrfOf(t, body)}, "email": {"viewer@example.com"},
		"password": {tickettest.Password}, "next": {"//evil.example/x"}})
	if res.Header.Get("Location") != "/" {
		t.Fatalf("next=//evil: %s", res.Header.Get("Location"))
	}
}

func TestLoginRefusesWithoutCSRF(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	b := p.anon(t)
	res, _ := b.post("/login", url.Values{"email": {"admin@example.com"}, "password": {tickettest.Password}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("login without CSRF: %d", res.StatusCode)
	}
}

func TestLoginThrottledPerAccountAndAddress(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	try := func(email, password string) int {
		b := p.anon(t)
		_, body := b.get("/login")
		res, _ := b.post("/login", url.Values{"_csrf": {csrfOf(t, body)}, "email": {email}, "password": {password}})
		return res.StatusCode
	}
	for i := 0; i < auth.MaxFailsPerAccount; i++ {
		if got := try("operator@example.com", "wrong password!!"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, got)
		}
	}
	if got := try("operator@example.com", tickettest.Password); got != http.StatusTooManyRequests {
		t.Fatalf("right password after %d failures: %d, want 429", auth.MaxFailsPerAccount, got)
	}
	// Another account is not locked by the first one's failures...
	if got := try("viewer@example.com", tickettest.Password); got != http.StatusSeeOther {
		t.Fatalf("other account: %d", got)
	}
	// ...until the address has failed too often.
	for i := 0; i < auth.MaxFailsPerAddress; i++ {
		try("nobody"+string(rune('a'+i))+"@example.com", "wrong password!!")
	}
	if got := try("approver@example.com", tickettest.Password); got != http.StatusTooManyRequests {
		t.Fatalf("after many failures from the address: %d, want 429", got)
	}
}

func TestCSRFRequiredOnForms(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	b := p.login(t, "operator@example.com")
	form := url.Values{"project_ref": {"proj-alpha"}, "requester_email": {"c@example.org"}, "mode": {"new_project"}}
	for _, tok := range []string{"", "not-the-token"} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("_csrf", tok)
		res, body := b.post("/tickets", f)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Fatalf("token %q: %d", tok, res.StatusCode)
		}
	}
	if res, _ := b.post("/tickets", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("with token: %d", res.StatusCode)
	}
}

func TestRolesOnAdminPages(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	op := p.login(t, "approver@example.com")
	op.wantStatus(http.StatusForbidden, "/users", "/riverui/")
	admin := p.login(t, "admin@example.com")
	if res, body := admin.get("/riverui/"); res.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(body), "river") {
		t.Errorf("admin riverui: %d", res.StatusCode)
	}
	res, body := admin.post("/users", url.Values{"email": {"new@example.com"}, "role": {"operator"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="created-password"`) {
		t.Fatalf("create user: %d", res.StatusCode)
	}
	res, body = admin.post("/users", url.Values{"email": {"new@example.com"}, "role": {"operator"}})
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("duplicate user: %d", res.StatusCode)
	}
	if res, _ := admin.post("/users", url.Values{"email": {"x@example.com"}, "role": {"root"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad role: %d", res.StatusCode)
	}
	viewer := p.login(t, "viewer@example.com")
	if res, _ := viewer.post("/users", url.Values{"email": {"y@example.com"}, "role": {"admin"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer creates a user: %d", res.StatusCode)
	}
	_, body = admin.get("/audit?action=user.")
	if !strings.Contains(body, "user.created") || !strings.Contains(body, "user.login") {
		t.Fatalf("audit page lacks user events")
	}
}

// TestAPITokensShownOnceAndRevocable makes a token on the account page, uses
// it on the API, revokes it.
func TestAPITokensShownOnceAndRevocable(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	b := p.login(t, "operator@example.com")
	res, body := b.post("/account/tokens", url.Values{"name": {"ci script"}})
	m := regexp.MustCompile(`<code class="secret" id="new-token">(rp_[A-Za-z0-9_-]+)</code>`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("create token: %d", res.StatusCode)
	}
	if code, _ := p.api(t, m[1], "GET", "/api/v1/tickets", nil); code != http.StatusOK {
		t.Fatalf("token on API: %d", code)
	}
	_, body = b.get("/account")
	if strings.Contains(body, m[1]) {
		t.Fatal("token shown twice")
	}
	// Only the SHA-256 of the token is stored.
	var n int
	if err := p.pool.QueryRow(t.Context(), `SELECT count(*) FROM api_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))
		AND position($1 in name || prefix) = 0`, m[1]).Scan(&n); err != nil || n != 1 {
		t.Fatalf("token not stored hashed: %v %d", err, n)
	}
	id := regexp.MustCompile(`/account/tokens/(\d+)/revoke`).FindStringSubmatch(body)
	if res, _ := b.post("/account/tokens/"+id[1]+"/revoke", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if code, _ := p.api(t, m[1], "GET", "/api/v1/tickets", nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", code)
	}
}

func TestAdminSetsPassword(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	viewer := p.login(t, "viewer@example.com")
	admin := p.login(t, "admin@example.com")
	id := p.users[auth.RoleViewer].ID
	res, body := admin.post(fmt.Sprintf("/users/%d/password", id), nil)
	m := regexp.MustCompile(`id="created-password">([^<]+)<`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("set password: %d", res.StatusCode)
	}
	if res, _ := viewer.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the viewer's session survived the password change: %d", res.StatusCode)
	}
	b := p.anon(t)
	_, body = b.get("/login")
	if res, _ := b.post("/login", url.Values{"_csrf": {csrfOf(t, body)}, "email": {"viewer@example.com"}, "password": {m[1]}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with the new password: %d", res.StatusCode)
	}
}
