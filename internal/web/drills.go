package web

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/web/templates"
)

// drillHistoryLimit is how many drills a project page lists.
const drillHistoryLimit = 30

// drillRoutes are "drill now" (page and API), the drill list and the
// monthly report.
func (s *Server) drillRoutes(r router) {
	r.POST("/projects/:ref/drill", s.projectDrillNow, s.requireRole(auth.RoleOperator))
	r.POST("/api/v1/projects/:ref/drill", s.apiDrillNow, s.requireRole(auth.RoleOperator))
	r.GET("/api/v1/drills", s.apiDrills)
	r.GET("/api/v1/drills/report", s.apiDrillReport)
}

// drillEvery is the drill cadence, PORTAL_DRILL_EVERY.
func (s *Server) drillEvery() time.Duration { return cmp.Or(s.Config.Drills.Every, 7*24*time.Hour) }

// drillProofs are the drill standings of the listed projects.
func (s *Server) drillProofs(ctx context.Context, list []snapshots.ProjectSummary) (map[string]drills.Proof, error) {
	refs := make([]string, len(list))
	for i, p := range list {
		refs[i] = p.Ref
	}
	return drills.ProofsOf(ctx, s.Pool, refs, s.drillEvery(), time.Now())
}

// drillSection is the drill part of project ref's page.
func (s *Server) drillSection(ctx context.Context, ref string, canAct bool) (templates.DrillSection, error) {
	sec := templates.DrillSection{CanDrill: canAct, Every: s.drillEvery(), Month: time.Now().UTC().Format("2006-01")}
	proofs, err := drills.ProofsOf(ctx, s.Pool, []string{ref}, sec.Every, time.Now())
	if err != nil {
		return sec, err
	}
	sec.Proof = proofs[ref]
	sec.History, err = drills.DrillListByProject(ctx, s.Pool, ref, drillHistoryLimit)
	return sec, err
}

// healthAlarms are the dashboard's open alarms.
func (s *Server) healthAlarms(ctx context.Context) ([]drills.Alarm, error) {
	return drills.AlarmsOpen(ctx, s.Pool, "", 100)
}

func (s *Server) queueDrill(c echo.Context) (snapshots.Project, error) {
	p, err := s.projectExists(c)
	if err != nil {
		return p, err
	}
	if _, err := drills.DrillNow(c.Request().Context(), s.River, p.Ref); err != nil {
		if errors.Is(err, drills.ErrDrillQueued) {
			return p, echo.NewHTTPError(http.StatusConflict, "a drill of "+p.Ref+" is queued or running already")
		}
		return p, err
	}
	return p, nil
}

func (s *Server) projectDrillNow(c echo.Context) error {
	p, err := s.queueDrill(c)
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusConflict {
		return s.redirectFlash(c, "/projects/"+url.PathEscape(p.Ref)+"#drills", "error", "A drill of this project is queued or running already.")
	} else if err != nil {
		return err
	}
	return s.redirectFlash(c, "/projects/"+url.PathEscape(p.Ref)+"#drills", "ok", "Drill queued; it runs on the drill queue at the lowest priority and shows in the history when done.")
}

func (s *Server) apiDrillNow(c echo.Context) error {
	p, err := s.queueDrill(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"queued": "drill", "ref": p.Ref})
}

// DrillsResponse is GET /api/v1/drills.
type DrillsResponse struct {
	Drills []drills.Drill `json:"drills"`
}

// apiDrills lists drills, newest first: ?project=, ?outcome=, ?since= and
// ?until= (RFC 3339), ?limit= (at most 1000).
func (s *Server) apiDrills(c echo.Context) error {
	p := drills.ListParams{Ref: c.QueryParam("project"), Outcome: drills.Outcome(c.QueryParam("outcome"))}
	switch p.Outcome {
	case "", drills.OutcomeRunning, drills.OutcomePassed, drills.OutcomeFailed, drills.OutcomeYielded:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "outcome must be running, passed, failed or yielded")
	}
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"since", &p.Since}, {"until", &p.Until}} {
		if v := c.QueryParam(q.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return echo.NewHTTPError(http.StatusBadRequest, q.name+" must be an RFC 3339 time such as 2026-05-03T14:00:00Z")
			}
			*q.dst = t
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return echo.NewHTTPError(http.StatusBadRequest, "limit must be from 1 to 1000")
		}
		p.Limit = n
	}
	list, err := drills.DrillList(c.Request().Context(), s.Pool, p)
	if err != nil {
		return err
	}
	if list == nil {
		list = []drills.Drill{}
	}
	return c.JSON(http.StatusOK, DrillsResponse{Drills: list})
}

// DrillReportResponse is GET /api/v1/drills/report.
type DrillReportResponse struct {
	Month    string            `json:"month"`
	Projects []drills.MonthRow `json:"projects"`
}

// apiDrillReport is the month's drill report (?month=YYYY-MM, default this
// month; ?project= one project): per project, snapshots proven, recovery
// time and failures; ?format=csv for the export.
func (s *Server) apiDrillReport(c echo.Context) error {
	month := time.Now().UTC()
	if v := c.QueryParam("month"); v != "" {
		m, err := drills.ParseMonth(v)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		month = m
	}
	ref := c.QueryParam("project")
	rows, err := drills.MonthReport(c.Request().Context(), s.Pool, month, ref)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []drills.MonthRow{}
	}
	label := month.Format("2006-01")
	switch c.QueryParam("format") {
	case "", "json":
		return c.JSON(http.StatusOK, DrillReportResponse{Month: label, Projects: rows})
	case "csv":
		var b bytes.Buffer
		if err := drills.WriteCSV(&b, rows); err != nil {
			return err
		}
		name := "drills-" + label
		if ref != "" && snapshots.ValidRef(ref) {
			name += "-" + ref
		}
		c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		return c.Blob(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "format must be json or csv")
	}
}
