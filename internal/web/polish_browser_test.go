package web_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// TestBrowserSizeTrendApprovalsAndRisks, at 1440x900 and 390x844:
//   - the project page's size trend has a value axis (its top at or above
//     the largest snapshot, 0 at the bottom), dates under the bars, bars as
//     tall as their size, and a click on a usable snapshot's bar opens
//     "Request a restore" with that snapshot chosen (a corrupt one's bar
//     opens the snapshot instead); nothing wider than the phone;
//   - a ticket submitted elsewhere appears in the idle dashboard's approvals
//     list within seconds, without a reload and before the 20 s timer could
//     have fired;
//   - awaiting approval, the "What will happen" sentence is the approval's
//     first risk and is not repeated above it.
func TestBrowserSizeTrendApprovalsAndRisks(t *testing.T) {
	p := newPortal(t)
	c := newChromium(t, p)
	opTok := p.token(t, auth.RoleOperator)
	charlie := tickettest.Snapshots(t, p.pool, "proj-charlie")
	for i, v := range viewports {
		// Size trend on proj-alpha: 4 daily snapshots of 1000..4000 bytes, the second corrupt.
		op := c.login("operator@example.com").at(v)
		op.visit("/projects/proj-alpha", `#size-trend`)
		top, err := strconv.ParseInt(op.evalString(`document.querySelector("#size-trend").dataset.top`), 10, 64)
		if err != nil || top < 4000 || top > 10000 {
			t.Fatalf("%s: axis top %d %v", v.name, top, err)
		}
		ticks := op.evalString(`Array.from(document.querySelectorAll("#size-trend-axis span")).map(function (s) { return s.textContent; }).join("|")`)
		if parts := strings.Split(ticks, "|"); len(parts) != 3 || parts[2] != "0 B" || parts[0] == parts[2] {
			t.Errorf("%s: axis ticks %q", v.name, ticks)
		}
		dates := op.evalString(`Array.from(document.querySelectorAll("#size-trend .trend-date")).map(function (s) { return s.textContent; }).join("|")`)
		wantDates := []string{}
		for _, s := range p.snaps {
			wantDates = append(wantDates, s.TakenAt.UTC().Format("01-02 15:04"))
		}
		if dates != strings.Join(wantDates, "|") {
			t.Errorf("%s: dates under the bars %q, want %q", v.name, dates, strings.Join(wantDates, "|"))
		}
		bar := func(id int64) string { return fmt.Sprintf(`#size-trend a.trend-bar[data-snapshot-id="%d"]`, id) }
		// The newest snapshot's bar: 4000 bytes of the axis' top.
		ratio := op.number(fmt.Sprintf(`document.querySelector(%q).getBoundingClientRect().height / document.querySelector("#size-trend .trend-bars").clientHeight`, bar(p.snaps[3].ID)+" rect"))
		if want := 4000 / float64(top); ratio < want-0.02 || ratio > want+0.02 {
			t.Errorf("%s: newest bar at %.3f of the plot, want %.3f", v.name, ratio, want)
		}
		if href := op.evalString(fmt.Sprintf(`document.querySelector(%q).getAttribute("href")`, bar(p.snaps[1].ID))); !strings.Contains(href, fmt.Sprintf("snapshot=%d", p.snaps[1].ID)) || strings.Contains(href, "/tickets/new") {
			t.Errorf("%s: the corrupt snapshot's bar links to %q", v.name, href)
		}
		if title := op.evalString(fmt.Sprintf(`document.querySelector(%q).getAttribute("title")`, bar(p.snaps[2].ID))); !strings.Contains(title, "2.9 KiB") {
			t.Errorf("%s: bar title %q has no size", v.name, title)
		}
		op.checkPage(v, "project-size-trend")
		op.do(chromedp.Click(chromedp.CSS(bar(p.snaps[2].ID))), chromedp.WaitVisible(chromedp.CSS(`#new-ticket`)))
		if got := op.evalString(`(document.querySelector("#chosen-snapshot input:checked") || {}).value || ""`); got != fmt.Sprint(p.snaps[2].ID) {
			t.Errorf("%s: clicking the bar chose snapshot %q, want %d", v.name, got, p.snaps[2].ID)
		}
		op.waitText(`#chosen-snapshot`, p.snaps[2].TakenAt.UTC().Format("15:04"))

		// The idle dashboard's approvals list.
		viewer := c.login("viewer@example.com").at(v)
		viewer.visit("/", `#awaiting-section`)
		loaded := time.Now()
		viewer.do(chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
		project, snap := []string{"proj-bravo", "proj-charlie"}[i], []int64{p.bravo[3].ID, charlie[3].ID}[i]
		code, got := p.api(t, opTok, "POST", "/api/v1/tickets", map[string]any{"project_ref": project, "mode": "destructive", "requester_email": "c@example.org"})
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, got)
		}
		tp := fmt.Sprintf("/api/v1/tickets/%v", got["id"])
		if code, got := p.api(t, opTok, "POST", tp+"/prepare", map[string]any{"snapshot_id": snap, "tables": []string{"public.orders"}}); code != http.StatusOK {
			t.Fatalf("prepare: %d %v", code, got)
		}
		submitted := time.Now()
		if code, got := p.api(t, opTok, "POST", tp+"/submit", nil); code != http.StatusOK || got["state"] != "awaiting_approval" {
			t.Fatalf("submit: %d %v", code, got)
		}
		viewer.waitEval(fmt.Sprintf(`!!document.querySelector('#awaiting [data-awaiting-ticket="%v"]')`, got["id"]))
		if d := time.Since(submitted); d > 5*time.Second || time.Since(loaded) > 19*time.Second {
			t.Errorf("%s: the approvals list took %s after the submit (%s after the load): the 20 s timer, not the stream", v.name, d, time.Since(loaded))
		}
		if !viewer.eval(`window.notReloaded === true`) {
			t.Errorf("%s: the dashboard reloaded instead of updating", v.name)
		}
		viewer.waitText(fmt.Sprintf(`#awaiting [data-awaiting-ticket="%v"]`, got["id"]), "destructive")
		viewer.checkPage(v, "dashboard-approvals-live")

		// The approval: the preflight sentence once, as the first risk.
		ap := c.login("approver@example.com").at(v)
		ap.visit(fmt.Sprintf("/tickets/%v", got["id"]), `#approve-form`)
		if ap.exists(`#preflight`) {
			t.Errorf("%s: the What will happen box is shown beside the approval", v.name)
		}
		first := ap.evalString(`document.querySelector("#approval-risks li").textContent.trim()`)
		if !strings.Contains(first, "public.orders") || !strings.Contains(first, "will be replaced") {
			t.Errorf("%s: first risk %q is not the plan's preflight", v.name, first)
		}
		if n := ap.number(fmt.Sprintf(`document.querySelector("main").innerText.split(%q).length - 1`, first)); n != 1 {
			t.Errorf("%s: the first risk appears %v times on the page", v.name, n)
		}
		ap.checkPage(v, "approval-risks-once")
	}
}
