package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
	"github.com/restoreportal/portal/internal/web"
)

// portal is the real router on a fresh portal database, served over HTTP,
// with a catalog of two projects and one user of each role.
type portal struct {
	e      *echo.Echo
	stop   func() // stops the router's background services (River UI)
	srv    *httptest.Server
	pool   *pgxpool.Pool
	snaps  []tickets.Snapshot
	bravo  []tickets.Snapshot // proj-bravo's
	users  map[auth.Role]auth.User
	second auth.User // a second approver
	// s3, bucket and prefix are the test's S3 bucket, as the portal's config names them.
	s3     *s3.Client
	bucket string
	prefix string
}

func newPortal(t testing.TB) *portal {
	t.Helper()
	return newPortalLog(t, testenv.Logger(t))
}

func newPortalLog(t testing.TB, log *slog.Logger) *portal {
	t.Helper()
	return newPortalWith(t, log, nil)
}

// newPortalWith is newPortalLog with the configuration changed by edit
// (nil: as the stack's).
func newPortalWith(t testing.TB, log *slog.Logger, edit func(*config.Config)) *portal {
	t.Helper()
	pool := testenv.PortalPool(t)
	s3c, bucket := testenv.S3(t)
	cfg := testenv.Config(t)
	cfg.S3.Bucket = bucket
	if edit != nil {
		edit(&cfg)
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	p := &portal{pool: pool, users: map[auth.Role]auth.User{}, s3: s3c, bucket: bucket, prefix: cfg.S3.Prefix}
	p.e, p.stop = web.NewServer(web.Deps{Config: cfg, Pool: pool, S3: s3c, River: rc, Log: log})
	t.Cleanup(p.stop) // after the server closes, before the pool does (cleanups run last first)
	p.srv = httptest.NewServer(p.e)
	t.Cleanup(p.srv.Close)
	p.snaps = tickettest.Snapshots(t, pool, "proj-alpha")
	p.bravo = tickettest.Snapshots(t, pool, "proj-bravo")
	for _, r := range auth.Roles {
		p.users[r] = tickettest.User(t, pool, string(r)+"@example.com", r)
	}
	p.second = tickettest.User(t, pool, "approver2@example.com", auth.RoleApprover)
	return p
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t    testing.TB
	p    *portal
	c    *http.Client
	csrf string
}

func (p *portal) anon(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, p: p, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// login logs in as email and remembers the session's CSRF token.
func (p *portal) login(t testing.TB, email string) *browser {
	t.Helper()
	b := p.anon(t)
	res, body := b.get("/login")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /login: %d", res.StatusCode)
	}
	res, body = b.post("/login", url.Values{"_csrf": {csrfOf(t, body)}, "email": {email}, "password": {tickettest.Password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d %s", email, res.StatusCode, body)
	}
	_, body = b.get("/")
	b.csrf = csrfOf(t, body)
	return b
}

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", body)
	}
	return m[1]
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, b.p.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form; the session's CSRF token is added unless the form has one.
// lacking is those of wants that body does not contain.
func lacking(body string, wants ...string) []string {
	var missing []string
	for _, w := range wants {
		if !strings.Contains(body, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// wantStatus gets each path and reports those not answered with want.
func (b *browser) wantStatus(want int, paths ...string) {
	b.t.Helper()
	for _, path := range paths {
		if res, body := b.get(path); res.StatusCode != want {
			b.t.Errorf("%s: %d, want %d (%.80s)", path, res.StatusCode, want, body)
		}
	}
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok && b.csrf != "" {
		form.Set("_csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.p.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// api calls the JSON API with a bearer token.
func (p *portal) api(t *testing.T, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, p.srv.URL+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func (p *portal) token(t *testing.T, role auth.Role) string {
	t.Helper()
	return p.tokenOf(t, p.users[role])
}

func (p *portal) tokenOf(t *testing.T, u auth.User) string {
	t.Helper()
	_, secret, err := auth.CreateToken(context.Background(), p.pool, audit.System("test"), u.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func (p *portal) jobCount(t *testing.T, kind string) int {
	t.Helper()
	var n int
	if err := p.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
