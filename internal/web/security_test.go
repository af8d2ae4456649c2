package web_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// anonFrom is a browser whose connections come from ip (any 127/8 address
// reaches the test server), so the portal sees it as another client.
func (p *portal) anonFrom(t testing.TB, ip string) *browser {
	b := p.anon(t)
	addr := net.ParseIP(ip)
	if addr == nil {
		t.Fatalf("bad test address %q", ip)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: addr}}
	b.c.Transport = &http.Transport{DialContext: d.DialContext}
	return b
}

// tryLogin loads the login page and posts the credentials.
func (b *browser) tryLogin(email, password, next string) *http.Response {
	b.t.Helper()
	_, body := b.get("/login")
	res, _ := b.post("/login", url.Values{"_csrf": {csrfOf(b.t, body)}, "email": {email}, "password": {password}, "next": {next}})
	return res
}

// TestConcurrentWrongPasswordsStopAtTheLimit: 16 wrong passwords at once
// through the router: exactly MaxFailsPerAccount are checked (401), the rest
// are refused before any check (429).
func TestConcurrentWrongPasswordsStopAtTheLimit(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	type form struct {
		b    *browser
		csrf string
	}
	forms := make([]form, 16)
	for i := range forms {
		b := p.anon(t)
		_, body := b.get("/login")
		forms[i] = form{b, csrfOf(t, body)}
	}
	codes := make([]int, len(forms))
	var wg sync.WaitGroup
	for i, f := range forms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := f.b.post("/login", url.Values{"_csrf": {f.csrf}, "email": {"operator@example.com"}, "password": {fmt.Sprintf("wrong guess %02d!!", i)}})
			codes[i] = res.StatusCode
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[http.StatusUnauthorized] != auth.MaxFailsPerAccount || count[http.StatusTooManyRequests] != 16-auth.MaxFailsPerAccount {
		t.Fatalf("answers %v, want %d x 401 and %d x 429", count, auth.MaxFailsPerAccount, 16-auth.MaxFailsPerAccount)
	}
	var checked int
	if err := p.pool.QueryRow(context.Background(), `SELECT count(*) FROM login_attempts WHERE email = 'operator@example.com' AND NOT throttled`).Scan(&checked); err != nil || checked != auth.MaxFailsPerAccount {
		t.Fatalf("checked attempts %d (%v)", checked, err)
	}
}

// TestOwnerLogsInDuringAnAttackFromElsewhere: guesses at the account from
// many other addresses lock those addresses and, past the account-wide
// limit, any new address; the owner at their usual address still logs in.
func TestOwnerLogsInDuringAnAttackFromElsewhere(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	owner := p.anonFrom(t, "127.0.0.1")
	if res := owner.tryLogin("approver@example.com", tickettest.Password, ""); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", res.StatusCode)
	}
	attacks := 0
	for a := 0; a < auth.MaxFailsPerAccountGlobal/auth.MaxFailsPerAccount+2; a++ {
		ev := p.anonFrom(t, fmt.Sprintf("127.0.1.%d", a+2))
		for i := 0; i < auth.MaxFailsPerAccount+1; i++ {
			if res := ev.tryLogin("approver@example.com", "guess guess guess", ""); res.StatusCode == http.StatusSeeOther {
				t.Fatal("a guess logged in")
			} else if res.StatusCode == http.StatusUnauthorized {
				attacks++
			}
		}
	}
	if attacks < auth.MaxFailsPerAccountGlobal {
		t.Fatalf("only %d guesses checked", attacks)
	}
	if res := p.anonFrom(t, "127.0.0.1").tryLogin("approver@example.com", tickettest.Password, ""); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner at their usual address during the attack: %d", res.StatusCode)
	}
	if res := p.anonFrom(t, "127.0.2.1").tryLogin("approver@example.com", tickettest.Password, ""); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a new address during the attack: %d, want 429", res.StatusCode)
	}
}

// TestLoginNextAttacks: after login only a same-origin path is followed.
func TestLoginNextAttacks(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	for _, tc := range []struct{ next, want string }{
		{"/\t/evil.example", "/"}, {"/%09/evil.example", "/"}, {"/\\evil.example", "/"}, {"//evil.example", "/"},
		{"https://evil.example", "/"}, {"/tickets?state=new", "/tickets?state=new"},
	} {
		res := p.anon(t).tryLogin("viewer@example.com", tickettest.Password, tc.next)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tc.want {
			t.Errorf("next=%q: %d Location %q, want %q", tc.next, res.StatusCode, res.Header.Get("Location"), tc.want)
		}
	}
	// The login page does not carry a bad next into its form either.
	_, body := p.anon(t).get("/login?next=%2F%09%2Fevil.example")
	if !strings.Contains(body, `name="next" value="/"`) {
		t.Error("the login form keeps a bad next")
	}
}

// TestBadQueryValuesAre400: values Postgres or strconv cannot take are the
// client's error, on every page and API list that reads them.
func TestBadQueryValuesAre400(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	b := p.login(t, "admin@example.com")
	b.wantStatus(http.StatusBadRequest,
		"/tickets?q=%00", "/tickets?q=a%00b", "/tickets?page=9999999999999999999", "/tickets?page=-1", "/tickets?page=x",
		"/tickets?q=%ff%fe", "/tickets?project=%00", "/tickets?q=%zz", "/tickets/1?snapshot=%00",
		"/audit?before=9999999999999999999", "/audit?ticket=-3", "/audit?action=%00", "/projects?q=%00",
		"/projects?page=9999999999999999999", "/api/v1/tickets?page=9999999999999999999", "/api/v1/tickets?per_page=-1",
		"/api/v1/tickets?q=%00", "/api/v1/tickets?state=bogus")
	// Forms too: a NUL in a note is refused, not a 500.
	loc := p.login(t, "operator@example.com").createTicket("new_project")
	if res, _ := b.post(loc+"/notes", url.Values{"body": {"hello\x00world"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("NUL in a form: %d", res.StatusCode)
	}
	// And JSON.
	code, _ := p.api(t, p.token(t, auth.RoleOperator), "POST", "/api/v1/tickets", map[string]any{"project_ref": "proj-alpha\x00",
		"mode": "new_project", "requester_email": "c@example.org"})
	if code != http.StatusBadRequest {
		t.Errorf("NUL in JSON: %d", code)
	}
	// Good values still work.
	b.wantStatus(http.StatusOK, "/tickets?page=1&q=caf%C3%A9", "/audit?before=10", "/api/v1/tickets?page=2&per_page=10")
}

// TestSecurityHeadersEverywhere: pages, the login page, errors and River's
// UI are not framable, not sniffed, and under a CSP.
func TestSecurityHeadersEverywhere(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	admin := p.login(t, "admin@example.com")
	anon := p.anon(t)
	for _, tc := range []struct {
		b    *browser
		path string
		code int
	}{{admin, "/", 200}, {anon, "/login", 200}, {admin, "/riverui/", 200}, {admin, "/riverui/jobs", 200},
		{admin, "/nope", 404}, {anon, "/static/style.css", 200}, {anon, "/tickets", 303}} {
		res, body := tc.b.get(tc.path)
		if res.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.path, res.StatusCode, tc.code)
		}
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" ||
			!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "script-src 'self' 'unsafe") {
			t.Errorf("%s: headers %v", tc.path, h)
		}
		if strings.HasPrefix(tc.path, "/riverui/") {
			// River's UI loads only its own module scripts, which the CSP allows.
			scripts := regexp.MustCompile(`<script[^>]*src="([^"]+)"`).FindAllStringSubmatch(body, -1)
			if len(scripts) == 0 {
				t.Errorf("%s: no script", tc.path)
			}
			for _, s := range scripts {
				if !strings.HasPrefix(s[1], "/riverui/") {
					t.Errorf("%s: script from %s", tc.path, s[1])
				}
			}
		}
	}
}

// TestPasswordResetRevokesTokens: an admin's password reset ends the user's
// sessions and API tokens.
func TestPasswordResetRevokesTokens(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	tok := p.token(t, auth.RoleOperator)
	if code, _ := p.api(t, tok, "GET", "/api/v1/tickets", nil); code != http.StatusOK {
		t.Fatalf("token before reset: %d", code)
	}
	admin := p.login(t, "admin@example.com")
	if res, _ := admin.post(fmt.Sprintf("/users/%d/password", p.users[auth.RoleOperator].ID), nil); res.StatusCode != http.StatusOK {
		t.Fatalf("reset: %d", res.StatusCode)
	}
	if code, _ := p.api(t, tok, "GET", "/api/v1/tickets", nil); code != http.StatusUnauthorized {
		t.Fatalf("token after reset: %d", code)
	}
}
