package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/verify"
	"github.com/restoreportal/portal/internal/web"
)

const catalogDump = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\n" +
	"CREATE TABLE public.items (id integer);\n\nCOPY public.items (id) FROM stdin;\n1\n2\n3\n\\.\n\n" +
	"CREATE TABLE auth.users (id integer);\n\nCOPY auth.users (id) FROM stdin;\n7\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n"

type catalogEnv struct {
	handler http.Handler
	pool    interface {
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}
	good, bad snapshots.Snapshot
	viewer    string
	operator  string
}

// newCatalogEnv serves the real router over a catalog with one project, a
// verified and a corrupt snapshot, and a viewer's and an operator's tokens.
func newCatalogEnv(t *testing.T) catalogEnv {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.Config(t)
	client, bucket := testenv.S3(t)
	pool := testenv.PortalPool(t)
	cfg.S3.Bucket, cfg.S3.Prefix = bucket, "daily"
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(catalogDump + strings.Repeat("-- padding\n", 20)))
	zw.Close()
	good := b.Bytes()
	for key, body := range map[string][]byte{
		"daily/proj-web/20260501T020000Z.sql.gz":   good,
		"daily/proj-web/20260502T020000Z.sql.gz":   good[:len(good)-20],
		"daily/proj-other/20260502T020000Z.sql.gz": good,
	} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
			t.Fatal(err)
		}
	}
	sd := snapshots.NewDeps(cfg, pool, client, testenv.Logger(t))
	if _, err := snapshots.Sync(ctx, sd, snapshots.SyncOptions{Full: true}); err != nil {
		t.Fatal(err)
	}
	e := catalogEnv{pool: pool}
	var err error
	for key, dst := range map[string]*snapshots.Snapshot{
		"daily/proj-web/20260501T020000Z.sql.gz": &e.good, "daily/proj-web/20260502T020000Z.sql.gz": &e.bad} {
		s, err := snapshots.SnapshotGetByKey(ctx, pool, key)
		if err != nil {
			t.Fatal(err)
		}
		if *dst, err = verify.Snapshot(ctx, sd, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	token := func(email string, role auth.Role) string {
		u, _, err := auth.CreateUser(ctx, pool, audit.Actor{Name: "test"}, auth.NewUser{Email: email, Name: email, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := auth.CreateToken(ctx, pool, audit.Actor{Name: "test"}, u.ID, "test")
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	e.viewer = token("viewer@example.com", auth.RoleViewer)
	e.operator = token("operator@example.com", auth.RoleOperator)
	e.handler = web.New(web.Deps{Config: cfg, Pool: pool, S3: client, River: rc, Log: testenv.Logger(t)})
	return e
}

func (e catalogEnv) do(t *testing.T, method, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body.String(), err)
	}
	return v
}

func TestProjectsAPI(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)

	e.expect(t, "anonymous", "GET", "/api/v1/projects", "", http.StatusUnauthorized)
	rec := e.do(t, "GET", "/api/v1/projects", e.viewer)
	if rec.Code != http.StatusOK {
		t.Fatalf("projects = %d %s", rec.Code, rec.Body)
	}
	list := decode[web.ProjectsResponse](t, rec)
	if list.Total != 2 || len(list.Projects) != 2 || list.Projects[1].Ref != "proj-web" {
		t.Fatalf("projects = %+v", list)
	}
	pw := list.Projects[1]
	if pw.SnapshotCount != 2 || pw.NewestStatus != snapshots.StatusCorrupt || !contains(pw.Warnings, "latest snapshot corrupt") ||
		!contains(pw.Warnings, "no snapshot in 36 hours") {
		t.Errorf("proj-web summary = %+v", pw)
	}
	if l := decode[web.ProjectsResponse](t, e.do(t, "GET", "/api/v1/projects?q=WEB&per_page=1", e.viewer)); l.Total != 1 || l.Projects[0].Ref != "proj-web" {
		t.Errorf("search = %+v", l)
	}
	e.expect(t, "page=0", "GET", "/api/v1/projects?page=0", e.viewer, http.StatusBadRequest)

	rec = e.do(t, "GET", "/api/v1/projects/proj-web/snapshots", e.viewer)
	snaps := decode[web.ProjectSnapshotsResponse](t, rec)
	if rec.Code != http.StatusOK || len(snaps.Snapshots) != 2 || snaps.Snapshots[0].ID != e.bad.ID || snaps.Resolution != nil {
		t.Fatalf("snapshots = %d %+v", rec.Code, snaps)
	}
	rec = e.do(t, "GET", "/api/v1/projects/proj-web/snapshots?at=2026-05-02T09:00:00%2B02:00", e.viewer)
	snaps = decode[web.ProjectSnapshotsResponse](t, rec)
	r := snaps.Resolution
	if r == nil || r.Situation != snapshots.Resolved || r.Snapshot.ID != e.good.ID || len(r.Skipped) != 1 {
		t.Fatalf("resolution = %+v", r)
	}
	r = decode[web.ProjectSnapshotsResponse](t, e.do(t, "GET", "/api/v1/projects/proj-web/snapshots?at=2026-04-01T00:00:00Z", e.viewer)).Resolution
	if r == nil || r.Situation != snapshots.BeforeFirst || r.Next == nil || r.Next.ID != e.good.ID {
		t.Errorf("before first = %+v", r)
	}
	for path, code := range map[string]int{
		"/api/v1/projects/proj-web/snapshots?at=yesterday": http.StatusBadRequest,
		"/api/v1/projects/nobody/snapshots":                http.StatusNotFound,
		"/api/v1/snapshots/abc":                            http.StatusBadRequest,
		"/api/v1/snapshots/999999":                         http.StatusNotFound,
	} {
		e.expect(t, "viewer", "GET", path, e.viewer, code)
	}

	one := decode[web.SnapshotResponse](t, e.do(t, "GET", fmt.Sprintf("/api/v1/snapshots/%d", e.good.ID), e.viewer))
	if !one.Usable || len(one.Tables) != 2 || one.Tables[0].Name != "items" || one.Tables[0].Rows != 3 || one.Tables[1].Schema != "auth" {
		t.Errorf("snapshot = %+v", one)
	}
	bad := decode[web.SnapshotResponse](t, e.do(t, "GET", fmt.Sprintf("/api/v1/snapshots/%d", e.bad.ID), e.viewer))
	if bad.Usable || !strings.Contains(bad.NotUsable, "truncated gzip at byte") || len(bad.Tables) != 0 {
		t.Errorf("corrupt snapshot = %+v", bad)
	}

	e.expect(t, "viewer sync", "POST", "/api/v1/projects/proj-web/sync", e.viewer, http.StatusForbidden)
	e.expect(t, "operator sync", "POST", "/api/v1/projects/proj-web/sync", e.operator, http.StatusAccepted)
	e.expect(t, "capture of a discovered project", "POST", "/api/v1/projects/proj-web/capture", e.operator, http.StatusConflict)
	e.expectJob(t, "snapshot_sync", `{"ref": "proj-web", "full": true}`, "default")
}

// expect reports (as what) a request whose answer is not code.
func (e catalogEnv) expect(t *testing.T, what, method, path, token string, code int) {
	t.Helper()
	if rec := e.do(t, method, path, token); rec.Code != code {
		t.Errorf("%s: %s %s = %d %s, want %d", what, method, path, rec.Code, rec.Body, code)
	}
}

func (e catalogEnv) expectJob(t *testing.T, kind, args, queue string) {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT queue FROM river_job WHERE kind = $1 AND args @> $2::jsonb`, kind, args)
	if err != nil {
		t.Fatal(err)
	}
	queues, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) == 0 || queues[0] != queue {
		t.Errorf("job %s %s: queues %v, want one on %s", kind, args, queues, queue)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestProjectPages(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)

	e.expect(t, "anonymous page", "GET", "/projects", "", http.StatusSeeOther)
	rec := e.do(t, "GET", "/projects?q=web", e.viewer)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `data-ref="proj-web"`) || strings.Contains(body, `data-ref="proj-other"`) ||
		!strings.Contains(body, "latest snapshot corrupt") {
		t.Fatalf("projects page = %d\n%s", rec.Code, body)
	}

	rec = e.do(t, "GET", "/projects/proj-web", e.viewer)
	body = rec.Body.String()
	if missing := lacking(body, `id="timeline"`, fmt.Sprintf(`data-snapshot-id="%d" data-status="corrupt"`, e.bad.ID), "truncated gzip at byte",
		`id="size-trend"`, `id="tables"`, "<td>items</td>"); len(missing) > 0 {
		t.Errorf("project page lacks %q", missing)
	}
	if strings.Contains(body, "Sync now") {
		t.Error("a viewer sees Sync now")
	}
	// A viewer cannot open a ticket, so is not offered to (issue 15); the
	// operator's page holds the link, once: not for the corrupt snapshot.
	if strings.Contains(body, "Request a restore") {
		t.Error("a viewer is offered Request a restore")
	}
	opBody := e.do(t, "GET", "/projects/proj-web", e.operator).Body.String()
	if !strings.Contains(opBody, `href="/tickets/new?at=2026-05-01T02%3A00%3A00Z&amp;project=proj-web&amp;snapshot=`) {
		t.Error("the operator's project page lacks Request a restore")
	}
	if strings.Count(opBody, "Request a restore") != 1 {
		t.Error("Request a restore offered for the corrupt snapshot too")
	}
	if body := e.do(t, "GET", "/projects/proj-web", e.operator).Body.String(); !strings.Contains(body, "Sync now") || strings.Contains(body, "Snapshot now") {
		t.Error("an operator sees Sync now but not Snapshot now of a discovered project")
	}
	e.expect(t, "unknown project", "GET", "/projects/nobody", e.viewer, http.StatusNotFound)
	e.expect(t, "another project's snapshot", "GET", fmt.Sprintf("/projects/proj-other?snapshot=%d", e.good.ID), e.viewer, http.StatusNotFound)

	e.expect(t, "viewer sync", "POST", "/projects/proj-web/sync", e.viewer, http.StatusForbidden)
	rec = e.do(t, "POST", "/projects/proj-web/sync", e.operator)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/projects/proj-web" {
		t.Errorf("sync now = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	e.mustExec(t, `UPDATE projects SET source = 'registered', database_name = 'proj_web' WHERE ref = 'proj-web'`)
	rec = e.do(t, "POST", "/projects/proj-web/capture", e.operator)
	if rec.Code != http.StatusSeeOther {
		t.Errorf("snapshot now = %d %s", rec.Code, rec.Body)
	}
	e.expectJob(t, "snapshot_capture", `{"ref": "proj-web", "manual": true}`, "capture") // captures have a queue of their own
}

func (e catalogEnv) mustExec(t *testing.T, sql string) {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
