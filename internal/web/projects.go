package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/web/templates"
)

// router is what route registration needs: *echo.Echo and *echo.Group both
// satisfy it, so the routes can be put inside an authenticated group.
type router interface {
	GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
	POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

// projectRoutes registers the projects pages and the catalog's JSON API.
func (s *Server) projectRoutes(r router) {
	s.projectPageRoutes(r)
	s.projectAPIRoutes(r)
}

// projectPageRoutes are the HTML pages and their forms.
func (s *Server) projectPageRoutes(r router) {
	r.GET("/projects", s.projectsList)
	r.GET("/projects/:ref", s.projectShow)
	r.POST("/projects/:ref/sync", s.projectSyncNow, s.requireRole(auth.RoleOperator))
	r.POST("/projects/:ref/capture", s.projectCaptureNow, s.requireRole(auth.RoleOperator))
}

// projectAPIRoutes are the JSON API of the catalog.
func (s *Server) projectAPIRoutes(r router) {
	r.GET("/api/v1/projects", s.apiProjects)
	r.GET("/api/v1/projects/:ref/snapshots", s.apiProjectSnapshots)
	r.GET("/api/v1/snapshots/:id", s.apiSnapshot)
	r.POST("/api/v1/projects/:ref/sync", s.apiSyncNow, s.requireRole(auth.RoleOperator))
	r.POST("/api/v1/projects/:ref/capture", s.apiCaptureNow, s.requireRole(auth.RoleOperator))
}

const (
	projectsPerPage    = 50
	projectsMaxPerPage = 500
	timelineLimit      = 400
)

// catalogError maps the catalog's errors to HTTP errors.
func catalogError(err error) error {
	if errors.Is(err, snapshots.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	return err
}

func pageParams(c echo.Context) (page, perPage int, err error) {
	page, perPage = 1, projectsPerPage
	if v := c.QueryParam("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > maxPage {
			return 0, 0, &paramError{Field: "page", Msg: fmt.Sprintf("must be a whole number from 1 to %d", maxPage)}
		}
	}
	if v := c.QueryParam("per_page"); v != "" {
		if perPage, err = strconv.Atoi(v); err != nil || perPage < 1 || perPage > projectsMaxPerPage {
			return 0, 0, &paramError{Field: "per_page", Msg: fmt.Sprintf("must be a whole number from 1 to %d", projectsMaxPerPage)}
		}
	}
	return page, perPage, nil
}

// projectsBase is the layout's props of the projects pages.
func (s *Server) projectsBase(c echo.Context, title string) templates.Base {
	return s.base(c, title, "projects")
}

func (s *Server) projectsList(c echo.Context) error {
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	q := c.QueryParam("q")
	now := time.Now()
	list, total, err := snapshots.ProjectList(c.Request().Context(), s.Pool, snapshots.ProjectListParams{
		Search: q, Limit: perPage, Offset: (page - 1) * perPage, Now: now})
	if err != nil {
		return err
	}
	proofs, err := s.drillProofs(c.Request().Context(), list)
	if err != nil {
		return err
	}
	return renderPage(c, http.StatusOK, templates.ProjectsList(templates.ProjectsPage{
		Base: s.projectsBase(c, "Projects"), Search: q, Projects: list, Total: total, Page: page, PerPage: perPage, Now: now,
		Proofs:       proofs,
		PerPageAsked: perPageAsked(c, perPage),
	}))
}

// projectTimeline is the path's project as of now and its snapshots, newest
// first (at most limit; 0: all).
func (s *Server) projectTimeline(c echo.Context, now time.Time, limit int) (snapshots.ProjectSummary, []snapshots.Snapshot, error) {
	ctx := c.Request().Context()
	sum, err := snapshots.ProjectSummaryGet(ctx, s.Pool, c.Param("ref"), now)
	if err != nil {
		return sum, nil, catalogError(err)
	}
	list, err := snapshots.SnapshotListByProject(ctx, s.Pool, c.Param("ref"), limit)
	return sum, list, err
}

func (s *Server) projectShow(c echo.Context) error {
	ctx := c.Request().Context()
	ref := c.Param("ref")
	now := time.Now()
	sum, list, err := s.projectTimeline(c, now, timelineLimit)
	if err != nil {
		return err
	}
	p := templates.ProjectPage{Base: s.projectsBase(c, "Project "+ref), Project: sum, Snapshots: list, Now: now,
		Capturable: sum.DatabaseName != "" && sum.Source != "discovered"}
	p.CanAct = p.Can(auth.RoleOperator)
	if p.Drills, err = s.drillSection(ctx, ref, p.CanAct); err != nil {
		return err
	}
	if last, err := snapshots.SyncLatest(ctx, s.Pool, ref); err == nil {
		p.LastSync = last
	} else if !errors.Is(err, snapshots.ErrNotFound) {
		return err
	}
	// The chosen snapshot: ?snapshot=id, else the newest verified one.
	if v := c.QueryParam("snapshot"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "snapshot must be a snapshot id")
		}
		sn, err := snapshots.Get(ctx, s.Pool, id)
		if err != nil || sn.ProjectRef != ref {
			return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("snapshot %d of %s not found", id, ref))
		}
		p.Chosen = &sn
	} else {
		for i := range list {
			if list[i].Status == snapshots.StatusVerified {
				p.Chosen = &list[i]
				break
			}
		}
	}
	if p.Chosen != nil && p.Chosen.Status == snapshots.StatusVerified {
		if p.Tables, err = snapshots.SnapshotTables(ctx, s.Pool, p.Chosen.ID); err != nil {
			return err
		}
	}
	return renderPage(c, http.StatusOK, templates.ProjectDetail(p))
}

// projectExists answers 404 for an unknown ref before a job is queued.
func (s *Server) projectExists(c echo.Context) (snapshots.Project, error) {
	p, err := snapshots.ProjectGet(c.Request().Context(), s.Pool, c.Param("ref"))
	return p, catalogError(err)
}

func (s *Server) projectSyncNow(c echo.Context) error {
	ref, _, err := s.queueSync(c)
	if err != nil {
		return err
	}
	return s.redirectFlash(c, "/projects/"+url.PathEscape(ref), "ok", "Sync queued; the timeline updates when it finishes.")
}

func (s *Server) projectCaptureNow(c echo.Context) error {
	ref, err := s.queueCapture(c)
	if err != nil {
		return err
	}
	return s.redirectFlash(c, "/projects/"+url.PathEscape(ref), "ok", "Snapshot queued; it appears here once captured and verified.")
}

// queueCapture queues a snapshot now of the request's project and returns
// its ref; a project without a registered database to capture is a 409.
func (s *Server) queueCapture(c echo.Context) (string, error) {
	p, err := s.projectExists(c)
	if err != nil {
		return "", err
	}
	if p.DatabaseName == "" || p.Source == "discovered" {
		return "", echo.NewHTTPError(http.StatusConflict, "project "+p.Ref+" has no registered database to capture")
	}
	if err := snapshots.InsertCaptureNow(c.Request().Context(), s.River, p.Ref); err != nil {
		return "", fmt.Errorf("queue capture of %s: %w", p.Ref, err)
	}
	return p.Ref, nil
}

// ProjectsResponse is GET /api/v1/projects.
type ProjectsResponse struct {
	Projects []snapshots.ProjectSummary `json:"projects"`
	Total    int                        `json:"total"`
	Page     int                        `json:"page"`
	PerPage  int                        `json:"per_page"`
}

func (s *Server) apiProjects(c echo.Context) error {
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	list, total, err := snapshots.ProjectList(c.Request().Context(), s.Pool, snapshots.ProjectListParams{
		Search: c.QueryParam("q"), Limit: perPage, Offset: (page - 1) * perPage})
	if err != nil {
		return err
	}
	if list == nil {
		list = []snapshots.ProjectSummary{}
	}
	return c.JSON(http.StatusOK, ProjectsResponse{Projects: list, Total: total, Page: page, PerPage: perPage})
}

// ProjectSnapshotsResponse is GET /api/v1/projects/{ref}/snapshots; with
// ?at= it carries the resolution of that time too.
type ProjectSnapshotsResponse struct {
	Project    snapshots.ProjectSummary `json:"project"`
	Snapshots  []snapshots.Snapshot     `json:"snapshots"`
	Resolution *snapshots.Resolution    `json:"resolution,omitempty"`
}

func (s *Server) apiProjectSnapshots(c echo.Context) error {
	now := time.Now()
	sum, list, err := s.projectTimeline(c, now, 0)
	if err != nil {
		return err
	}
	if list == nil {
		list = []snapshots.Snapshot{}
	}
	resp := ProjectSnapshotsResponse{Project: sum, Snapshots: list}
	if v := c.QueryParam("at"); v != "" {
		at, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "at must be an RFC 3339 time with a zone, such as 2026-05-03T14:00:00+02:00")
		}
		r, err := snapshots.Resolve(c.Request().Context(), s.Pool, c.Param("ref"), at, now)
		if err != nil {
			return catalogError(err)
		}
		resp.Resolution = &r
	}
	return c.JSON(http.StatusOK, resp)
}

// SnapshotResponse is GET /api/v1/snapshots/{id}.
type SnapshotResponse struct {
	Snapshot snapshots.Snapshot `json:"snapshot"`
	// Usable is false for corrupt, pending and deleted snapshots, with why.
	Usable    bool              `json:"usable"`
	NotUsable string            `json:"not_usable,omitempty"`
	Tables    []snapshots.Table `json:"tables"`
}

func (s *Server) apiSnapshot(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "id must be a snapshot id")
	}
	sn, err := snapshots.Get(ctx, s.Pool, id)
	if err != nil {
		return catalogError(err)
	}
	tables, err := snapshots.SnapshotTables(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	if tables == nil {
		tables = []snapshots.Table{}
	}
	resp := SnapshotResponse{Snapshot: sn, Usable: true, Tables: tables}
	if err := sn.Usable(); err != nil {
		resp.Usable, resp.NotUsable = false, err.Error()
	}
	return c.JSON(http.StatusOK, resp)
}

// apiSyncNow queues a sync of one project. A ref the catalog does not know
// yet is looked up in S3 first: snapshots there are synced (and so make the
// project known); only a ref with nothing in S3 either is a 404.
func (s *Server) apiSyncNow(c echo.Context) error {
	ref, found, err := s.queueSync(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"queued": "sync", "ref": ref, "found_in": found})
}

// queueSync queues a sync of the request's project (see syncTarget) and
// returns its ref and where it was found.
func (s *Server) queueSync(c echo.Context) (ref, foundIn string, err error) {
	if ref, foundIn, err = s.syncTarget(c); err != nil {
		return "", "", err
	}
	if err := snapshots.InsertSyncNow(c.Request().Context(), s.River, ref); err != nil {
		return "", "", fmt.Errorf("queue sync of %s: %w", ref, err)
	}
	return ref, foundIn, nil
}

// syncTarget is the project a sync now is for, and where it was found:
// "catalog", or "s3" for a ref only the bucket holds.
func (s *Server) syncTarget(c echo.Context) (ref, foundIn string, err error) {
	p, err := s.projectExists(c)
	if err == nil {
		return p.Ref, "catalog", nil
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusNotFound {
		return "", "", err
	}
	ref = strings.ToLower(strings.TrimSpace(c.Param("ref")))
	ok, lerr := snapshots.ProjectInBucket(c.Request().Context(), s.S3, s.Config.S3.Bucket, s.Config.S3.Prefix, ref)
	if lerr != nil {
		return "", "", lerr
	}
	if !ok {
		return "", "", echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("ref: neither the catalog nor S3 (%s) holds project %q",
			snapshots.ProjectPrefix(s.Config.S3.Prefix, ref), ref))
	}
	return ref, "s3", nil
}

func (s *Server) apiCaptureNow(c echo.Context) error {
	ref, err := s.queueCapture(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"queued": "capture", "ref": ref})
}

// perPageAsked is the page size the request asked for, 0 when it took the
// default.
func perPageAsked(c echo.Context, perPage int) int {
	if c.QueryParam("per_page") == "" {
		return 0
	}
	return perPage
}
