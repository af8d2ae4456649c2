package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/drills"
)

// drillOf records a finished drill of ref, as the worker does.
func (p *portal) drillOf(t *testing.T, ref string, snapshotID int64, r drills.Result) drills.Drill {
	t.Helper()
	ctx := context.Background()
	d, err := drills.DrillStart(ctx, p.pool, drills.NewDrill{ProjectRef: ref, SnapshotID: snapshotID, SnapshotAt: time.Now().Add(-time.Hour).Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if d, err = drills.DrillFinish(ctx, p.pool, d.ID, r); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDrillNowFromThePageAndTheAPI(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	viewer := p.login(t, "viewer@example.com")
	if res, _ := viewer.post("/projects/proj-alpha/drill", nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer queued a drill: %d", res.StatusCode)
	}
	if n := p.jobCount(t, drills.DrillArgs{}.Kind()); n != 0 {
		t.Fatalf("%d drill jobs after a refused request", n)
	}
	op := p.login(t, "operator@example.com")
	if res, _ := op.post("/projects/proj-alpha/drill", url.Values{"_csrf": {"stale"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a drill queued with a stale CSRF token: %d", res.StatusCode)
	}
	res, _ := op.post("/projects/proj-alpha/drill", nil)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/projects/proj-alpha") {
		t.Fatalf("drill now: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if n := p.jobCount(t, drills.DrillArgs{}.Kind()); n != 1 {
		t.Fatalf("%d drill jobs, want 1", n)
	}
	tok := p.token(t, auth.RoleOperator)
	if code, out := p.api(t, tok, http.MethodPost, "/api/v1/projects/proj-alpha/drill", nil); code != http.StatusConflict {
		t.Fatalf("a second drill of a queued project: %d %v", code, out)
	}
	if code, out := p.api(t, tok, http.MethodPost, "/api/v1/projects/proj-bravo/drill", nil); code != http.StatusAccepted || out["queued"] != "drill" {
		t.Fatalf("API drill now: %d %v", code, out)
	}
	if code, _ := p.api(t, tok, http.MethodPost, "/api/v1/projects/no-such-project/drill", nil); code != http.StatusNotFound {
		t.Fatalf("drill of an unknown project: %d", code)
	}
	if code, _ := p.api(t, p.token(t, auth.RoleViewer), http.MethodPost, "/api/v1/projects/proj-bravo/drill", nil); code != http.StatusForbidden {
		t.Fatalf("a viewer's API drill: %d", code)
	}
	if n := p.jobCount(t, drills.DrillArgs{}.Kind()); n != 2 {
		t.Fatalf("%d drill jobs, want 2", n)
	}
}

func TestDrillStandingOnTheProjectPagesAndDashboard(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	ctx := context.Background()
	passed := p.drillOf(t, "proj-alpha", p.snaps[0].ID, drills.Result{Outcome: drills.OutcomePassed, Recovery: 12345 * time.Millisecond,
		Duration: 14 * time.Second, TablesChecked: 3, RowsChecked: 99, IndexesChecked: 4,
		Phases: []drills.Phase{{Name: drills.PhaseCreate, MS: 250}, {Name: drills.PhaseRestore, MS: 12000},
			{Name: drills.PhaseAmcheck, MS: 1500, Detail: "heap check computed: 1 of 4 indexes"}, {Name: drills.PhaseDrop, MS: 90}}})
	p.drillOf(t, "proj-alpha", p.snaps[0].ID, drills.Result{Outcome: drills.OutcomeFailed, Reason: `auth.users <script>alert(1)</script> rows differ`})
	// proj-bravo has been verified for weeks and never drilled: overdue.
	if _, err := p.pool.Exec(ctx, `UPDATE snapshots SET verified_at = now() - interval '20 days' WHERE project_ref = 'proj-bravo'`); err != nil {
		t.Fatal(err)
	}
	al, err := drills.Alarms{DB: p.pool}.Apply(ctx, "proj-alpha", drills.DrillConditions,
		[]drills.Finding{{Condition: drills.CondDrillFailed, Detail: "restore drill failed: <b>bold</b>"}}, time.Now())
	if err != nil || len(al) != 1 {
		t.Fatalf("alarm: %v %v", al, err)
	}

	b := p.login(t, "viewer@example.com")
	_, body := b.get("/projects")
	alpha := rowOf(t, body, "proj-alpha")
	if !strings.Contains(alpha, passed.SnapshotAt.UTC().Format("2006-01-02 15:04 UTC")) || !strings.Contains(alpha, "12.3s") || strings.Contains(alpha, "drill overdue") {
		t.Fatalf("proj-alpha's row does not show its proof:\n%s", alpha)
	}
	if bravo := rowOf(t, body, "proj-bravo"); !strings.Contains(bravo, "drill overdue") || !strings.Contains(bravo, "never") {
		t.Fatalf("proj-bravo is not flagged overdue:\n%s", bravo)
	}
	if !strings.Contains(body, "Last proven restorable") || !strings.Contains(body, "Recovery time") {
		t.Fatal("the projects list lacks the drill columns")
	}

	_, body = b.get("/projects/proj-alpha")
	if strings.Count(body, "data-drill=") != 2 || !strings.Contains(body, `id="recovery-time">12.3s`) {
		t.Fatalf("project page drill history:\n%s", body)
	}
	if !strings.Contains(body, `<small class="muted phases">create 0.25s, restore 12.00s, amcheck 1.50s (heap check computed: 1 of 4 indexes), drop 0.09s</small>`) {
		t.Fatalf("the drill history does not show where the drill's time went:\n%s", body)
	}
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;") {
		t.Fatal("a drill's reason reached the page unescaped")
	}
	if strings.Contains(body, `id="drill-now"`) {
		t.Fatal("a viewer sees Drill now")
	}
	if _, body = p.login(t, "operator@example.com").get("/projects/proj-bravo"); !strings.Contains(body, `id="drill-overdue"`) || !strings.Contains(body, `id="drill-now"`) {
		t.Fatalf("proj-bravo's page: no overdue flag or no Drill now for an operator")
	}

	_, body = b.get("/")
	if !strings.Contains(body, `id="health-alarms"`) || !strings.Contains(body, `data-condition="drill_failed" data-ref="proj-alpha"`) ||
		strings.Contains(body, "<b>bold</b>") {
		t.Fatalf("dashboard alarms:\n%s", body)
	}
}

// rowOf is the projects list's row of ref.
func rowOf(t *testing.T, body, ref string) string {
	t.Helper()
	i := strings.Index(body, `<tr data-ref="`+ref+`"`)
	if i < 0 {
		t.Fatalf("no row of %s", ref)
	}
	j := strings.Index(body[i:], "</tr>")
	return body[i : i+j]
}

func TestDrillsAPIAndMonthlyReport(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	p.drillOf(t, "proj-alpha", p.snaps[0].ID, drills.Result{Outcome: drills.OutcomePassed, Recovery: 2 * time.Second})
	p.drillOf(t, "proj-alpha", p.snaps[1].ID, drills.Result{Outcome: drills.OutcomePassed, Recovery: 4 * time.Second})
	p.drillOf(t, "proj-alpha", p.snaps[1].ID, drills.Result{Outcome: drills.OutcomeFailed, Reason: "=HYPERLINK(\"http://evil\")"})
	p.drillOf(t, "proj-bravo", 0, drills.Result{Outcome: drills.OutcomeYielded, Reason: "a restore started"})
	tok := p.token(t, auth.RoleViewer)

	code, out := p.api(t, tok, http.MethodGet, "/api/v1/drills?project=proj-alpha", nil)
	if list, _ := out["drills"].([]any); code != http.StatusOK || len(list) != 3 {
		t.Fatalf("drills of proj-alpha: %d %v", code, out)
	}
	code, out = p.api(t, tok, http.MethodGet, "/api/v1/drills?outcome=failed", nil)
	if list, _ := out["drills"].([]any); code != http.StatusOK || len(list) != 1 {
		t.Fatalf("failed drills: %d %v", code, out)
	}
	for _, q := range []string{"outcome=bogus", "since=yesterday", "limit=0", "limit=5000"} {
		if code, _ := p.api(t, tok, http.MethodGet, "/api/v1/drills?"+q, nil); code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}
	if code, _ := p.api(t, "", http.MethodGet, "/api/v1/drills", nil); code != http.StatusUnauthorized && code != http.StatusSeeOther && code != http.StatusForbidden {
		t.Fatalf("anonymous drill list: %d", code)
	}

	month := time.Now().UTC().Format("2006-01")
	code, out = p.api(t, tok, http.MethodGet, "/api/v1/drills/report?month="+month, nil)
	rows, _ := out["projects"].([]any)
	if code != http.StatusOK || len(rows) != 2 {
		t.Fatalf("report: %d %v", code, out)
	}
	alpha := rows[0].(map[string]any)
	if alpha["project_ref"] != "proj-alpha" || alpha["snapshots_proven"] != 2.0 || alpha["failures"] != 1.0 || alpha["drills"] != 3.0 ||
		alpha["max_recovery_ms"] != 4000.0 {
		t.Fatalf("proj-alpha's month: %v", alpha)
	}
	if code, _ := p.api(t, tok, http.MethodGet, "/api/v1/drills/report?month=2026-13", nil); code != http.StatusBadRequest {
		t.Fatalf("a bad month: %d", code)
	}
	if code, out = p.api(t, tok, http.MethodGet, "/api/v1/drills/report?month=2001-01", nil); code != http.StatusOK || len(out["projects"].([]any)) != 0 {
		t.Fatalf("an empty month: %d %v", code, out)
	}

	b := p.login(t, "viewer@example.com")
	res, body := b.get("/api/v1/drills/report?format=csv&month=" + month + "&project=proj-alpha")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "drills-"+month+"-proj-alpha.csv") {
		t.Fatalf("CSV export: %d %v", res.StatusCode, res.Header)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) != 2 || recs[0][3] != "snapshots_proven" || recs[1][0] != "proj-alpha" || recs[1][3] != "2" || recs[1][4] != "1" || recs[1][7] != "4.000" {
		t.Fatalf("CSV: %v %v\n%s", recs, err, body)
	}
	if !strings.HasPrefix(recs[1][8], "'=") {
		t.Fatalf("a failure reason reads as a spreadsheet formula: %q", recs[1][8])
	}
}
