package web_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// viewport is one screen size the pages are checked at.
type viewport struct {
	name string
	w, h int64
}

var viewports = []viewport{{"desktop", 1440, 900}, {"phone", 390, 844}}

// at sets the tab's screen size (kept across navigations).
func (tb *tab) at(v viewport) *tab {
	tb.c.t.Helper()
	tb.do(chromedp.EmulateViewport(v.w, v.h))
	return tb
}

func (tb *tab) path() string {
	tb.c.t.Helper()
	return tb.evalString(`location.pathname`)
}

func (tb *tab) value(sel string) string {
	tb.c.t.Helper()
	return tb.evalString(fmt.Sprintf(`document.querySelector(%q).value`, sel))
}

// pageChecks are what every page must pass at every size: nothing wider than
// the screen, a skip link to the content, a label on every input, and the
// header's Account and Log out on screen and readable against the header.
const pageChecks = `(function () {
  var out = [];
  var sw = document.documentElement.scrollWidth;
  if (sw > window.innerWidth) {
    var wide = [];
    document.querySelectorAll("body *").forEach(function (e) {
      var r = e.getBoundingClientRect();
      if (r.right > window.innerWidth + 1 && wide.length < 5) wide.push(e.tagName + (e.id ? "#" + e.id : "") + "." + e.className);
    });
    out.push("scrollWidth " + sw + " > " + window.innerWidth + ": " + wide.join(", "));
  }
  var skip = document.querySelector("a.skip[href='#main']");
  if (!skip || !document.getElementById("main")) out.push("no skip link to #main");
  document.querySelectorAll("input, select, textarea").forEach(function (e) {
    if (e.type === "hidden" || e.type === "submit") return;
    if ((e.labels && e.labels.length) || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby")) return;
    out.push("unlabelled " + e.tagName + "[name=" + e.name + "]");
  });
  function lum(c) {
    var m = c.match(/\d+(\.\d+)?/g).map(Number);
    var f = m.slice(0, 3).map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * f[0] + 0.7152 * f[1] + 0.0722 * f[2];
  }
  var header = document.querySelector("header.top");
  [document.querySelector("header.top a[href='/account']"), document.querySelector("header.top button.link")].forEach(function (e) {
    if (!e) return;
    var r = e.getBoundingClientRect();
    if (r.right > window.innerWidth || r.left < 0) out.push(e.textContent + " off screen");
    var hr = header.getBoundingClientRect();
    if (r.bottom > hr.bottom + 1) out.push(e.textContent + " outside the header");
    var a = lum(getComputedStyle(e).color), b = lum(getComputedStyle(header).backgroundColor);
    var ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) out.push(e.textContent + " contrast " + ratio.toFixed(1));
  });
  return out.join("; ");
})()`

// checkPage asserts pageChecks and writes a screenshot.
func (tb *tab) checkPage(v viewport, name string) {
	tb.c.t.Helper()
	problems, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](pageChecks))
	if err != nil {
		tb.c.t.Fatalf("%s: %v", name, err)
	}
	if problems != "" {
		tb.c.t.Errorf("%s at %s (%s): %s", tb.path(), v.name, name, problems)
	}
	if v.w == 390 {
		if sw := tb.number(`document.documentElement.scrollWidth`); sw > 390 {
			tb.c.t.Errorf("%s on the phone: scrollWidth %v > 390", name, sw)
		}
	}
	tb.shot(fmt.Sprintf("ux-%s-%s", name, v.name))
}

// TestBrowserFormsKeepWork walks, at desktop and phone size, the hand-offs
// that lost work: "Request a restore" keeps the snapshot clicked (a manual
// one at 07:21:24, which a time cut to the minute would miss); a refused form
// shows its error beside the field, in words, focused, with the values kept
// and the address off the POST URL; picking a snapshot (click, arrow keys,
// Enter) swaps the tables without reloading or submitting; a refused triage
// keeps what was typed and the picker still works; the approval screen leads
// with the plan and risks, is marked destructive, and enables the button
// only for the typed ref; on the phone the approval comes before the thread.
func TestBrowserFormsKeepWork(t *testing.T) {
	p := newPortal(t)
	c := newChromium(t, p)
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	ticketRe := regexp.MustCompile(`^/tickets/(\d+)$`)

	// Each size restores its own project (one restore at a time per project).
	for i, v := range viewports {
		project := []string{"proj-alpha", "proj-bravo"}[i]
		manual := p.addSnapshot(t, project, day.Add(7*time.Hour+21*time.Minute+24*time.Second))
		// A second snapshot in the same minute: the minute alone cannot tell them apart.
		p.addSnapshot(t, project, day.Add(7*time.Hour+21*time.Minute+50*time.Second))
		op := c.login("operator@example.com").at(v)
		op.visit("/projects/"+project, `main h1`)
		op.checkPage(v, "project")
		link := fmt.Sprintf(`a.button[href*="snapshot=%d&"], a.button[href$="snapshot=%d"]`, manual.ID, manual.ID)
		op.do(chromedp.Click(chromedp.CSS(link)), chromedp.WaitVisible(chromedp.CSS(`#new-ticket`)))
		op.waitText(`#chosen-snapshot`, "07:21:24")
		if got := op.value(`input[name=requested_at]`); !strings.HasSuffix(got, "07:21:24") {
			t.Errorf("%s: requested_at %q, want the snapshot's second", v.name, got)
		}
		// A time zone the server refuses: the error is beside the field.
		op.do(chromedp.SendKeys(chromedp.CSS(`input[name=requester_email]`), "customer@example.org"),
			chromedp.SetValue(chromedp.CSS(`input[name=requested_tz]`), "Mars/Olympus"),
			chromedp.SendKeys(chromedp.CSS(`textarea[name=note]`), "typed note"),
			chromedp.Click(chromedp.CSS(`#new-ticket button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`#err-requested_tz`)))
		if msg := op.text(`#err-requested_tz`); strings.Contains(msg, "requested_tz") || !strings.Contains(msg, "time zone") {
			t.Errorf("%s: field error %q is not in words", v.name, msg)
		}
		if !op.eval(`document.querySelector("#form-error").getAttribute("role") === "alert"`) ||
			!strings.HasPrefix(op.text(`#form-error`), "Time zone:") {
			t.Errorf("%s: summary %q", v.name, op.text(`#form-error`))
		}
		if !op.eval(`document.activeElement && document.activeElement.name === "requested_tz"`) {
			t.Errorf("%s: the field in error is not focused", v.name)
		}
		if op.value(`input[name=requester_email]`) != "customer@example.org" || op.value(`textarea[name=note]`) != "typed note" ||
			!op.eval(`document.querySelector("#chosen-snapshot input").checked`) {
			t.Errorf("%s: typed values lost after the refusal", v.name)
		}
		if got := op.path(); got != "/tickets/new" {
			t.Errorf("%s: address after a refused form is %s", v.name, got)
		}
		op.checkPage(v, "new-ticket-error")
		op.do(chromedp.SetValue(chromedp.CSS(`input[name=requested_tz]`), "UTC"),
			chromedp.Click(chromedp.CSS(`#new-ticket button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#triage`)))
		ticketPath := op.path()
		m := ticketRe.FindStringSubmatch(ticketPath)
		if m == nil {
			t.Fatalf("%s: after create at %s", v.name, ticketPath)
		}
		var id int64
		fmt.Sscan(m[1], &id)
		tk, err := tickets.TicketGet(ctx, p.pool, id)
		if err != nil || tk.SnapshotID != manual.ID {
			t.Fatalf("%s: ticket snapshot %d, want the clicked %d (%v)", v.name, tk.SnapshotID, manual.ID, err)
		}
		radio := func(id int64) string { return fmt.Sprintf(`input[name=snapshot_id][value="%d"]`, id) }
		if !op.eval(fmt.Sprintf(`document.querySelector(%q).checked`, radio(manual.ID))) {
			t.Errorf("%s: the clicked snapshot is not preselected in the triage", v.name)
		}

		// The usable snapshots the picker offers besides the clicked one.
		choices, err := chromedp.Run(op.ctx, chromedp.Evaluate[[]int64](`Array.from(document.querySelectorAll("input[name=snapshot_id]:not(:disabled)")).map(function (r) { return Number(r.value); })`))
		if err != nil {
			t.Fatal(err)
		}
		var others []tickets.Snapshot
		for _, id := range choices {
			if id != manual.ID {
				others = append(others, tickets.Snapshot{ID: id})
			}
		}
		if len(others) < 3 {
			t.Fatalf("%s: the picker offers %v", v.name, choices)
		}
		snaps := []tickets.Snapshot{others[0], {}, others[1], others[2]}

		// Picking a snapshot swaps the tables in place; typed values stay.
		op.do(chromedp.SendKeys(chromedp.CSS(`input[name=target_ref]`), "typed-target"),
			chromedp.Click(chromedp.CSS(radio(snaps[0].ID))))
		op.waitEval(fmt.Sprintf(`!!document.querySelector('#tables[data-snapshot="%d"]')`, snaps[0].ID))
		if op.path() != ticketPath || op.value(`input[name=target_ref]`) != "typed-target" {
			t.Errorf("%s: picking a snapshot reloaded the page (%s, %q)", v.name, op.path(), op.value(`input[name=target_ref]`))
		}
		// Arrow keys move the choice and Enter on it saves nothing.
		op.do(chromedp.Focus(chromedp.CSS(radio(snaps[0].ID))), chromedp.KeyEvent(kb.ArrowUp))
		op.waitEval(fmt.Sprintf(`(function(){ var r = document.querySelector("input[name=snapshot_id]:checked");
			var t = document.querySelector("#tables"); return !!r && r.value !== "%d" && !!t && t.dataset.snapshot === r.value; })()`, snaps[0].ID))
		op.do(chromedp.KeyEvent(kb.Enter))
		if op.eval(`document.querySelector("#prepare").disabled`) {
			t.Errorf("%s: Enter on the snapshot list started a submission", v.name)
		}
		if op.path() != ticketPath || op.value(`input[name=target_ref]`) != "typed-target" {
			t.Errorf("%s: arrow keys or Enter on the snapshot list submitted the form", v.name)
		}
		if tk, _ := tickets.TicketGet(ctx, p.pool, id); tk.State != tickets.StateNew {
			t.Errorf("%s: ticket is %s after choosing with the keyboard", v.name, tk.State)
		}

		// A refused triage: tables scope with none ticked.
		op.do(chromedp.Click(chromedp.CSS(radio(snaps[2].ID))))
		op.waitEval(fmt.Sprintf(`!!document.querySelector('#tables[data-snapshot="%d"]')`, snaps[2].ID))
		op.do(chromedp.Click(chromedp.CSS(`input[name=scope_kind][value=tables]`)),
			chromedp.Click(chromedp.CSS(`input[name=mode][value=destructive]`)),
			chromedp.Click(chromedp.CSS(`#prepare`)), chromedp.WaitVisible(chromedp.CSS(`#err-scope`)))
		if op.path() != ticketPath {
			t.Errorf("%s: address after a refused triage is %s", v.name, op.path())
		}
		if !op.eval(`document.activeElement && document.activeElement.name === "scope_kind"`) {
			t.Errorf("%s: the refused triage's field is not focused", v.name)
		}
		if op.value(`input[name=target_ref]`) != "typed-target" || !op.eval(`document.querySelector("input[name=scope_kind][value=tables]").checked`) ||
			!op.eval(`document.querySelector("input[name=mode][value=destructive]").checked`) ||
			!op.eval(fmt.Sprintf(`document.querySelector(%q).checked`, radio(snaps[2].ID))) {
			t.Errorf("%s: the refused triage lost what was typed", v.name)
		}
		op.checkPage(v, "triage-error")
		// The picker still works after the refusal: no 404.
		op.do(chromedp.Click(chromedp.CSS(radio(snaps[3].ID))))
		op.waitEval(fmt.Sprintf(`!!document.querySelector('#tables[data-snapshot="%d"]')`, snaps[3].ID))
		if op.path() != ticketPath || !op.exists(`#triage`) {
			t.Errorf("%s: picking after a refusal left the page (%s)", v.name, op.path())
		}
		// The POST URL itself, opened (a bookmark, no script), is the ticket.
		op.visit(ticketPath+"/prepare", `#triage`)
		if op.path() != ticketPath {
			t.Errorf("%s: GET of the form's URL is at %s", v.name, op.path())
		}

		// A valid destructive triage, sent for approval.
		op.do(chromedp.Click(chromedp.CSS(radio(snaps[3].ID))))
		op.waitEval(fmt.Sprintf(`!!document.querySelector('#tables[data-snapshot="%d"]')`, snaps[3].ID))
		op.do(chromedp.Click(chromedp.CSS(`input[name=scope_kind][value=tables]`)),
			chromedp.Click(chromedp.CSS(`input[name=tables][value="public.orders"]`)),
			chromedp.Click(chromedp.CSS(`input[name=mode][value=destructive]`)),
			chromedp.Click(chromedp.CSS(`#prepare`)), chromedp.WaitVisible(chromedp.CSS(`#preflight`)),
			chromedp.Click(chromedp.CSS(`#submit-approval`)), chromedp.WaitVisible(chromedp.CSS(`#approval`)))
		op.checkPage(v, "ticket-awaiting")

		ap := c.login("approver@example.com").at(v)
		ap.visit(ticketPath, `#approve-form`)
		if !ap.eval(`document.querySelector("#approval").classList.contains("approval-destructive")`) ||
			!strings.EqualFold(ap.text(`#approval-mode`), "Destructive") {
			t.Errorf("%s: the approval is not marked destructive", v.name)
		}
		if border, _ := chromedp.Run(ap.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#approval")).borderTopColor`)); border != "rgb(179, 38, 30)" {
			t.Errorf("%s: destructive approval border %s", v.name, border)
		}
		if n := ap.number(`document.querySelectorAll("#approval-risks li").length`); n < 2 {
			t.Errorf("%s: %v risks listed", v.name, n)
		}
		ap.waitText(`#approval-risks`, "public.orders")
		ap.waitText(`#approval-plan`, "public.orders")
		// The plan, its risks, the typed ref and the button are one panel.
		if !ap.eval(`document.querySelector("#approval").contains(document.querySelector("#approve"))`) {
			t.Errorf("%s: the button is not beside the plan", v.name)
		}
		if !ap.eval(`document.querySelector("#approve").disabled`) {
			t.Errorf("%s: approve enabled before the ref is typed", v.name)
		}
		ap.do(chromedp.SendKeys(chromedp.CSS(`#approve-form input[name=confirm_ref]`), project[:len(project)-1]))
		if !ap.eval(`document.querySelector("#approve").disabled`) {
			t.Errorf("%s: approve enabled for a partial ref", v.name)
		}
		ap.do(chromedp.SendKeys(chromedp.CSS(`#approve-form input[name=confirm_ref]`), project[len(project)-1:]))
		if ap.eval(`document.querySelector("#approve").disabled`) {
			t.Errorf("%s: approve still disabled for the right ref", v.name)
		}
		// Reject and cancel are each their own second step.
		if !ap.exists(`#decisions`) {
			// approvers are operators too
			t.Errorf("%s: no ask-for-info / reject / cancel", v.name)
		} else if ap.eval(`document.querySelector("#reject").open || document.querySelector("#cancel").open`) {
			t.Errorf("%s: an irreversible decision is one click away", v.name)
		}
		if v.w == 390 {
			if !ap.eval(`document.querySelector("#approval").getBoundingClientRect().top < document.querySelector("#thread").getBoundingClientRect().top`) {
				t.Errorf("phone: the approval comes after the thread")
			}
		}
		ap.checkPage(v, "approval")
		ap.do(chromedp.Click(chromedp.CSS(`#approve`)), chromedp.WaitVisible(chromedp.CSS(`#progress`)))
		if !ap.eval(`document.querySelector("#progress-text").getAttribute("aria-live") === "polite"`) {
			t.Errorf("%s: progress is not announced", v.name)
		}
		ap.checkPage(v, "ticket-queued")

		// A form in flight has its buttons disabled (the submission itself is
		// held back here by a later listener, to look at the page meanwhile).
		// The operator's page reloads itself on the state change: wait for
		// that, or the navigation races it (net::ERR_ABORTED).
		op.waitText(`#ticket-state`, "queued")
		op.visit(ticketPath, `#thread form`)
		if !op.eval(`(function(){ var f = document.querySelector("#thread form"); f.addEventListener("submit", function(e){ e.preventDefault(); });
			f.requestSubmit(); return true; })()`) {
			t.Fatal("requestSubmit")
		}
		op.waitEval(`document.querySelector("#thread form button").disabled && document.querySelector("#thread form").getAttribute("aria-busy") === "true"`)
	}
}

// TestBrowserEveryPageFitsThePhone opens every page as admin at both sizes:
// nothing wider than the screen (scrollWidth <= 390 on the phone), a skip
// link, labels on every input, and the header's Account and Log out on
// screen with readable contrast.
func TestBrowserEveryPageFitsThePhone(t *testing.T) {
	p := newPortal(t)
	c := newChromium(t, p)
	// A ticket with a long subject and a long unbroken note, to stress wrapping.
	op := p.login(t, "operator@example.com")
	loc := op.createTicket("destructive")
	op.post(loc+"/notes", map[string][]string{"body": {strings.Repeat("x", 300)}})
	pages := []struct{ name, path string }{
		{"dashboard", "/"}, {"tickets", "/tickets"}, {"tickets-empty", "/tickets?q=nothing-matches-this"}, {"ticket", loc},
		{"new-ticket", "/tickets/new"}, {"projects", "/projects"}, {"project", "/projects/proj-alpha"},
		{"audit", "/audit"}, {"account", "/account"}, {"users", "/users"}, {"unfiled", "/mail/unfiled"},
	}
	for _, v := range viewports {
		admin := c.login("admin@example.com").at(v)
		for _, pg := range pages {
			admin.visit(pg.path, `main`)
			admin.checkPage(v, "page-"+pg.name)
		}
	}
}

// addSnapshot inserts a verified snapshot of project taken at at, with the
// tables tickettest.Snapshots gives.
func (p *portal) addSnapshot(t *testing.T, project string, at time.Time) tickets.Snapshot {
	t.Helper()
	ctx := context.Background()
	var id int64
	if err := p.pool.QueryRow(ctx, `INSERT INTO snapshots (project_ref, key, size, taken_at, status, verified_at)
		VALUES ($1, $2, 4321, $3, 'verified', now()) RETURNING id`,
		project, fmt.Sprintf("snapshots/%s/%s.sql.gz", project, at.Format("2006-01-02T15-04-05Z")), at).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for pos, tb := range []tickets.Table{{Schema: "public", Name: "orders", Rows: 77}, {Schema: "public", Name: "customers", Rows: 40}} {
		if _, err := p.pool.Exec(ctx, `INSERT INTO snapshot_tables (snapshot_id, position, schema_name, table_name, rows, bytes, has_data)
			VALUES ($1, $2, $3, $4, $5, $6, true)`, id, pos, tb.Schema, tb.Name, tb.Rows, tb.Rows*50); err != nil {
			t.Fatal(err)
		}
	}
	return tickets.Snapshot{ID: id, ProjectRef: project, TakenAt: at, SizeBytes: 4321, Usable: true}
}

// TestBrowserDashboardLiveWhileIdle: a dashboard nobody touches shows a
// restore started elsewhere (by the API) without a reload, with its progress;
// zero-value states are one line, not cards; approvals show mode, preparer
// and age with the absolute time on hover; the ticket list shows mode, scope,
// source and age, and an empty search says so. At both sizes.
func TestBrowserDashboardLiveWhileIdle(t *testing.T) {
	p := newPortal(t)
	c := newChromium(t, p)
	ctx := context.Background()
	op, ap := p.token(t, auth.RoleOperator), p.token(t, auth.RoleApprover)
	// One ticket awaiting approval, prepared by the operator.
	_, got := p.api(t, op, "POST", "/api/v1/tickets", map[string]any{"project_ref": "proj-bravo", "mode": "destructive", "requester_email": "c@example.org"})
	awaiting := fmt.Sprintf("/api/v1/tickets/%v", got["id"])
	if code, got := p.api(t, op, "POST", awaiting+"/prepare", map[string]any{"snapshot_id": p.bravo[3].ID, "tables": []string{"public.orders"}}); code != http.StatusOK {
		t.Fatalf("prepare: %d %v", code, got)
	}
	if code, _, _ := p.raw(t, op, "POST", awaiting+"/submit", nil); code != http.StatusOK {
		t.Fatal("submit")
	}
	charlie := tickettest.Snapshots(t, p.pool, "proj-charlie")
	for i, v := range viewports {
		project, snap := []string{"proj-alpha", "proj-charlie"}[i], []int64{p.snaps[3].ID, charlie[3].ID}[i]
		viewer := c.login("viewer@example.com").at(v)
		viewer.visit("/", `#active-section`)
		if i == 0 && !viewer.exists(`#no-active`) {
			t.Fatal("a restore is running before the test starts one")
		}
		viewer.do(chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
		if viewer.exists(`.card .n`) && viewer.eval(`Array.from(document.querySelectorAll(".card .n")).some(function (n) { return n.textContent === "0"; })`) {
			t.Errorf("%s: a zero-value card", v.name)
		}
		viewer.waitText(`.zero-states`, "rolled back")
		viewer.waitText(`#awaiting`, "destructive")
		viewer.waitText(`#awaiting`, "operator@example.com")
		if !viewer.eval(`(function(){ var t = document.querySelector("#awaiting time"); return !!t && /UTC$/.test(t.title) && !!t.getAttribute("datetime") && /ago|just now/.test(t.textContent); })()`) {
			t.Errorf("%s: the approval's age has no absolute time on hover", v.name)
		}
		// A restore started elsewhere, by a script.
		_, got := p.api(t, op, "POST", "/api/v1/tickets", map[string]any{"project_ref": project, "mode": "new_project", "requester_email": "c@example.org"})
		tp := fmt.Sprintf("/api/v1/tickets/%v", got["id"])
		if code, got := p.api(t, op, "POST", tp+"/prepare", map[string]any{"snapshot_id": snap}); code != http.StatusOK {
			t.Fatalf("prepare: %d %v", code, got)
		}
		code, _, got := p.raw(t, ap, "POST", tp+"/start", nil)
		if code != http.StatusOK {
			t.Fatalf("start: %d %v", code, got)
		}
		row := fmt.Sprintf(`#active [data-live-ticket="%v"]`, got["id"])
		viewer.waitEval(fmt.Sprintf(`!!document.querySelector(%q)`, row))
		viewer.waitText(`#dashboard-counts .card[data-state=queued]`, "1")
		if !viewer.eval(`window.notReloaded === true`) {
			t.Errorf("%s: the dashboard reloaded instead of updating", v.name)
		}
		var id int64
		fmt.Sscan(fmt.Sprint(got["id"]), &id)
		tk, err := tickets.TicketGet(ctx, p.pool, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tickets.MarkRunning(ctx, p.pool, id, tk.JobID); err != nil {
			t.Fatal(err)
		}
		if err := tickets.UpdateProgress(ctx, p.pool, id, tickets.Progress{Phase: "data", Percent: 37, CurrentTable: "public.orders"}); err != nil {
			t.Fatal(err)
		}
		viewer.waitText(row+` [data-live=percent]`, "37%")
		viewer.checkPage(v, "dashboard-live")

		// The ticket list: what each ticket is, and an empty search says so.
		viewer.visit("/tickets", `table.tickets`)
		for _, col := range []string{"Mode", "Scope", "Source", "Age"} {
			viewer.waitText(`table.tickets thead`, col)
		}
		viewer.waitText(`table.tickets tbody`, "new project")
		viewer.waitText(`table.tickets tbody`, "api")
		if viewer.exists(`a[href="/tickets/new"]`) {
			t.Errorf("%s: a viewer is offered New ticket", v.name)
		}
		viewer.checkPage(v, "tickets-list")
		viewer.visit("/tickets?q=no-such-ticket-anywhere", `#count`)
		viewer.waitText(`#count`, "0 tickets match these filters")
	}
}

// TestBrowserProgressAndResults, at both sizes: the request's time in UTC
// and the requester's zone side by side; a corrupt newer snapshot is
// explained with what skipping it costs; progress shows phase and percent,
// bytes read of the total, tables, rows, elapsed and ETA, live; a finished
// new project links to itself with a connection string without a password;
// the admin gets a link to the River job, a viewer none; a rolled-back
// ticket leads with "Rolled back".
func TestBrowserProgressAndResults(t *testing.T) {
	p := newPortal(t)
	c := newChromium(t, p)
	ctx := context.Background()
	op := p.token(t, auth.RoleOperator)
	charlie := tickettest.Snapshots(t, p.pool, "proj-charlie")
	for i, v := range viewports {
		project, snaps := []string{"proj-alpha", "proj-charlie"}[i], [][]tickets.Snapshot{p.snaps, charlie}[i]
		// An hour after the corrupt snapshot, in Berlin.
		berlin, _ := time.LoadLocation("Europe/Berlin")
		at := snaps[1].TakenAt.Add(time.Hour).In(berlin).Format("2006-01-02T15:04:05")
		code, got := p.api(t, op, "POST", "/api/v1/tickets", map[string]any{"project_ref": project, "mode": "new_project",
			"requester_email": "c@example.org", "requested_at": at, "requested_tz": "Europe/Berlin"})
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, got)
		}
		var id int64
		fmt.Sscan(fmt.Sprint(got["id"]), &id)
		path := fmt.Sprintf("/tickets/%d", id)
		viewer := c.login("viewer@example.com").at(v)
		viewer.visit(path, `#resolution`)
		viewer.waitText(`#requested-local`, "Europe/Berlin")
		viewer.waitText(`.facts`, "UTC")
		viewer.waitText(`#resolution`, "is not usable")
		viewer.waitText(`#resolution`, "skipping it costs 24 h of data")
		if viewer.exists(`#triage`) || viewer.exists(`#decisions`) || viewer.exists(`#assign-me`) {
			t.Errorf("%s: a viewer is offered actions they cannot take", v.name)
		}

		// Started, and moving.
		if code, got := p.api(t, op, "POST", "/api/v1/tickets/"+fmt.Sprint(id)+"/prepare", map[string]any{"snapshot_id": snaps[0].ID}); code != http.StatusOK {
			t.Fatalf("prepare: %d %v", code, got)
		}
		if code, _, got := p.raw(t, op, "POST", "/api/v1/tickets/"+fmt.Sprint(id)+"/start", nil); code != http.StatusOK {
			t.Fatalf("start: %d %v", code, got)
		}
		tk, _ := tickets.TicketGet(ctx, p.pool, id)
		if _, err := tickets.MarkRunning(ctx, p.pool, id, tk.JobID); err != nil {
			t.Fatal(err)
		}
		viewer.visit(path, `#progress-facts`)
		if err := tickets.UpdateProgress(ctx, p.pool, id, tickets.Progress{Phase: "data", Percent: 50, CurrentTable: "public.orders",
			Bytes: 512 << 20, BytesTotal: 1 << 30, TablesDone: 1, TablesTotal: 3, Rows: 1234}); err != nil {
			t.Fatal(err)
		}
		viewer.waitText(`[data-live=bytes]`, "512.0 MiB of 1.0 GiB")
		viewer.waitText(`[data-live=tables]`, "1 of 3")
		viewer.waitText(`[data-live=rows]`, "1234")
		viewer.waitText(`[data-live=percent]`, "50%")
		viewer.waitText(`[data-live=phase]`, "data")
		viewer.waitText(`[data-live=eta]`, "about")
		viewer.waitText(`[data-live=elapsed]`, " s")
		viewer.checkPage(v, "progress")

		// Finished: the new project is a link, the connection has no password.
		target := "copy_" + project
		if _, err := tickets.Finish(ctx, p.pool, id, tickets.Result{OK: true, Message: "restored and verified.", TargetDatabase: target}); err != nil {
			t.Fatal(err)
		}
		viewer.waitText(`#result-lead`, "Succeeded")
		viewer.do(chromedp.WaitVisible(chromedp.CSS(`#new-project-link`)))
		conn := viewer.text(`#connection-string`)
		if !strings.HasPrefix(conn, "postgres://"+target+"_owner@") || strings.Count(conn, ":") != 2 || !strings.HasSuffix(conn, "/"+target) {
			t.Errorf("%s: connection string %q", v.name, conn)
		}
		if viewer.exists(`#job-link`) {
			t.Errorf("%s: a viewer gets the River job link", v.name)
		}
		admin := c.login("admin@example.com").at(v)
		admin.visit(path, `#job-link`)
		if !admin.eval(fmt.Sprintf(`document.querySelector("#job-link").getAttribute("href") === "/riverui/jobs/%d"`, tk.JobID)) {
			t.Errorf("%s: job link %s", v.name, admin.text(`#job-link`))
		}
		viewer.checkPage(v, "result")
		if _, err := tickets.FinishRollback(ctx, p.pool, id, nil); err != nil {
			t.Fatal(err)
		}
		viewer.waitText(`#result-lead`, "Rolled back")
		if viewer.exists(`#connection-string`) {
			t.Errorf("%s: a rolled-back new project still offers its connection", v.name)
		}
		viewer.checkPage(v, "rolled-back")
	}
}
