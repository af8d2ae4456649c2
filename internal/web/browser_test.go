package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// chromium drives Debian's headless Chromium against the test's portal. Each
// user gets a tab in its own browser context (own cookies).
type chromium struct {
	t       *testing.T
	root    context.Context
	p       *portal
	shotDir string
}

func newChromium(t *testing.T, p *portal) *chromium {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	root, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(root); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	repo, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repo, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &chromium{t: t, root: root, p: p, shotDir: dir}
}

// tab is one logged-in person.
type tab struct {
	c   *chromium
	ctx context.Context
}

func (c *chromium) login(email string) *tab {
	c.t.Helper()
	ctx, cancel := chromedp.NewContext(c.root, chromedp.WithNewBrowserContext())
	c.t.Cleanup(cancel)
	// The first Run on a context opens its tab for the life of the context
	// passed: run it without a timeout.
	if err := chromedp.Do(ctx); err != nil {
		c.t.Fatalf("open tab: %v", err)
	}
	tb := &tab{c: c, ctx: ctx}
	tb.do(chromedp.Navigate(c.p.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), tickettest.Password),
		chromedp.Click(chromedp.CSS(`section.login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#current-user`)))
	return tb
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.c.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.c.t.Logf("browser action failed: %v", err)
		lctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(lctx, chromedp.Location())
		body, _ := chromedp.Run(lctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		tb.c.t.Fatalf("browser at %s: %v\npage text:\n%s", loc, err, body)
	}
}

// visit opens path of the portal and waits until sel is visible.
func (tb *tab) visit(path, sel string) {
	tb.c.t.Helper()
	tb.do(chromedp.Navigate(tb.c.p.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (tb *tab) text(sel string) string {
	tb.c.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.c.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// evalAs runs an expression of type T in the page.
func evalAs[T any](tb *tab, js string) T {
	tb.c.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.c.t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// eval runs a boolean expression in the page.
func (tb *tab) eval(js string) bool { tb.c.t.Helper(); return evalAs[bool](tb, js) }

// evalString runs a string expression in the page.
func (tb *tab) evalString(js string) string { tb.c.t.Helper(); return evalAs[string](tb, js) }

// number runs a numeric expression in the page.
func (tb *tab) number(js string) float64 { tb.c.t.Helper(); return evalAs[float64](tb, js) }

func (tb *tab) exists(sel string) bool {
	tb.c.t.Helper()
	return tb.eval(fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
}

// holds polls a boolean expression from Go until it holds (so a page that
// reloads meanwhile, on a state change, does not break it) and says whether
// it did within 20 seconds.
func (tb *tab) holds(js string) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// waitEval polls a boolean expression until it holds.
func (tb *tab) waitEval(js string) {
	tb.c.t.Helper()
	if !tb.holds(js) {
		tb.c.t.Fatalf("waiting for %s at %s", js, tb.path())
	}
}

// waitText waits until the element's text contains want.
func (tb *tab) waitText(sel, want string) {
	tb.c.t.Helper()
	if !tb.holds(fmt.Sprintf(`(function(){ var e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)) {
		got, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent`, sel)))
		tb.c.t.Fatalf("waiting for %q in %s: has %q", want, sel, got)
	}
}

// post sends a form from the page with fetch, as a forged or scripted
// request would, and returns the status.
func (tb *tab) post(path string, withCSRF bool, fields map[string]string) int {
	tb.c.t.Helper()
	js := `(async () => { const f = new URLSearchParams();`
	if withCSRF {
		js += `f.set("_csrf", document.querySelector("input[name=_csrf]").value);`
	}
	for k, v := range fields {
		js += fmt.Sprintf(`f.set(%q, %q);`, k, v)
	}
	js += fmt.Sprintf(`const r = await fetch(%q, {method: "POST", body: f, redirect: "manual"}); return r.status; })()`, path)
	status, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.c.t.Fatal(err)
	}
	return status
}

func (tb *tab) shot(name string) {
	tb.c.t.Helper()
	b, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.c.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(tb.c.shotDir, name+".png"), b, 0o644); err != nil {
		tb.c.t.Fatal(err)
	}
}

// TestBrowserRestoreWorkflow walks the restore workflow in real Chromium: an
// operator creates and triages a ticket (snapshot, tables, mode), asks for
// approval; a viewer cannot approve; a form post without the CSRF token is
// refused; an approver who prepared a ticket cannot approve it; another
// approver approves with the typed ref; progress reaches done live; the
// restore is rolled back. The restore worker does not exist yet in this
// test: its side (MarkRunning, UpdateProgress, Finish, FinishRollback) is
// played by the test through the tickets package.
func TestBrowserRestoreWorkflow(t *testing.T) {
	p := newPortal(t)
	c := newChromium(t, p)
	ctx := context.Background()
	base := p.srv.URL

	op := c.login("operator@example.com")
	at := time.Now().UTC().Add(-30 * time.Hour).Format("2006-01-02T15:04")
	op.do(chromedp.Navigate(base+"/tickets/new"),
		chromedp.SendKeys(chromedp.CSS(`input[name=project_ref]`), "proj-alpha"),
		chromedp.SendKeys(chromedp.CSS(`input[name=requester_email]`), "customer@example.org"),
		chromedp.SetValue(chromedp.CSS(`input[name=requested_at]`), at),
		chromedp.Click(chromedp.CSS(`input[name=mode][value=destructive]`)),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=note]`), "Customer dropped rows from orders yesterday."))
	op.shot("01-new-ticket")
	op.do(chromedp.Submit(chromedp.CSS(`input[name=project_ref]`)), chromedp.WaitVisible(chromedp.CSS(`#triage`)))
	loc, _ := chromedp.Run(op.ctx, chromedp.Location())
	ticketPath := strings.TrimPrefix(loc, base)
	var id int64
	if _, err := fmt.Sscanf(ticketPath, "/tickets/%d", &id); err != nil {
		t.Fatalf("after create at %s", loc)
	}
	if !strings.Contains(op.text(`#resolution`), "resolves to the snapshot") {
		t.Fatalf("resolution: %s", op.text(`#resolution`))
	}
	// The corrupt snapshot is offered, disabled.
	corrupt := fmt.Sprintf(`input[name=snapshot_id][value="%d"]`, p.snaps[1].ID)
	if dis, _ := chromedp.Run(op.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q).disabled`, corrupt))); !dis {
		t.Fatal("corrupt snapshot selectable")
	}
	// Pick an older snapshot: the table list reloads for it.
	older := fmt.Sprintf(`input[name=snapshot_id][value="%d"]`, p.snaps[0].ID)
	op.do(chromedp.Click(chromedp.CSS(older)), chromedp.WaitVisible(chromedp.CSS(older+`:checked`)))
	op.waitText(`#tables`, "120") // orders of the first snapshot hold 120 rows
	op.do(chromedp.Click(chromedp.CSS(`input[name=scope_kind][value=tables]`)),
		chromedp.Click(chromedp.CSS(`input[name=tables][value="public.orders"]`)),
		chromedp.Click(chromedp.CSS(`input[name=tables][value="auth.users"]`)),
		chromedp.Click(chromedp.CSS(`input[name=mode][value=destructive]`)))
	op.shot("02-ticket-triage")
	op.do(chromedp.Click(chromedp.CSS(`#prepare`)), chromedp.WaitVisible(chromedp.CSS(`#preflight`)))
	op.waitText(`#preflight`, "public.orders, auth.users")
	op.waitText(`#scope`, "public.orders, auth.users")
	op.do(chromedp.Click(chromedp.CSS(`#submit-approval`)), chromedp.WaitVisible(chromedp.CSS(`#approve-blocked`)))
	op.waitText(`#ticket-state`, "awaiting approval")
	op.shot("03-ticket-awaiting-approval")

	// A viewer sees no approval form and is refused when posting anyway.
	viewer := c.login("viewer@example.com")
	viewer.do(chromedp.Navigate(base + ticketPath))
	viewer.waitText(`#approve-blocked`, "needs the approver role")
	if viewer.exists(`#approve-form`) {
		t.Fatal("viewer offered the approval form")
	}
	if got := viewer.post(ticketPath+"/approve", true, map[string]string{"confirm_ref": "proj-alpha"}); got != 403 {
		t.Fatalf("viewer approve: %d", got)
	}

	// The approver who prepared a ticket cannot approve it.
	prep := c.login("approver2@example.com")
	prep.do(chromedp.Navigate(base+"/tickets/new"),
		chromedp.SendKeys(chromedp.CSS(`input[name=project_ref]`), "proj-bravo"),
		chromedp.SendKeys(chromedp.CSS(`input[name=requester_email]`), "other@example.org"),
		chromedp.Click(chromedp.CSS(`input[name=mode][value=destructive]`)),
		chromedp.Submit(chromedp.CSS(`input[name=project_ref]`)),
		chromedp.WaitVisible(chromedp.CSS(`#triage`)),
		chromedp.Click(chromedp.CSS(`input[name=mode][value=destructive]`)),
		chromedp.Click(chromedp.CSS(`#prepare`)),
		chromedp.WaitVisible(chromedp.CSS(`#submit-approval`)),
		chromedp.Click(chromedp.CSS(`#submit-approval`)),
		chromedp.WaitVisible(chromedp.CSS(`#approve-blocked`)))
	prep.waitText(`#approve-blocked`, "You prepared this restore")
	prepLoc, _ := chromedp.Run(prep.ctx, chromedp.Location())
	if got := prep.post(strings.TrimPrefix(prepLoc, base)+"/approve", true, map[string]string{"confirm_ref": "proj-bravo"}); got != 403 {
		t.Fatalf("preparer approve: %d", got)
	}
	prep.shot("04-preparer-cannot-approve")

	// The approver approves with the typed ref; a wrong ref and a post
	// without the CSRF token are refused first.
	ap := c.login("approver@example.com")
	ap.visit(ticketPath, `#approve-form`)
	if got := ap.post(ticketPath+"/approve", false, map[string]string{"confirm_ref": "proj-alpha"}); got != 403 {
		t.Fatalf("approve without CSRF token: %d", got)
	}
	// A wrong ref leaves the button disabled; the server refuses it all the
	// same when the button is forced (as without script).
	ap.do(chromedp.SendKeys(chromedp.CSS(`#approve-form input[name=confirm_ref]`), "proj-alfa"))
	if !ap.eval(`document.querySelector("#approve").disabled`) {
		t.Fatal("approve enabled for a wrong ref")
	}
	ap.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#approve").disabled = false`),
		chromedp.Click(chromedp.CSS(`#approve`)), chromedp.WaitVisible(chromedp.CSS(`#form-error`)))
	ap.waitText(`#form-error`, "type the project ref proj-alpha")
	ap.shot("05-approve-wrong-ref")
	if p.jobCount(t, "restore") != 0 {
		t.Fatal("job inserted before approval")
	}
	ap.do(chromedp.SendKeys(chromedp.CSS(`#approve-form input[name=confirm_ref]`), "proj-alpha"),
		chromedp.Click(chromedp.CSS(`#approve`)), chromedp.WaitVisible(chromedp.CSS(`#progress`)))
	ap.waitText(`#ticket-state`, "queued")
	if p.jobCount(t, "restore") != 1 {
		t.Fatal("no restore job after approval")
	}
	tk, err := tickets.TicketGet(ctx, p.pool, id)
	if err != nil || tk.JobID == 0 {
		t.Fatalf("ticket after approval: %v %+v", err, tk)
	}

	// The worker's side, played by the test: running, progress, done. The
	// open pages follow over server-sent events without reloading.
	if _, err := tickets.MarkRunning(ctx, p.pool, id, tk.JobID); err != nil {
		t.Fatal(err)
	}
	ap.waitText(`#ticket-state`, "running")
	dash := c.login("viewer@example.com")
	dash.visit("/", `#active`)
	for _, pct := range []float64{15, 42, 73} {
		if err := tickets.UpdateProgress(ctx, p.pool, id, tickets.Progress{Phase: "data", Percent: pct, CurrentTable: "public.orders", Rows: int64(pct * 10)}); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%.0f%%", pct)
		ap.waitText(`#progress [data-live=percent]`, want)
		dash.waitText(`#active [data-live=percent]`, want)
	}
	dash.shot("06-dashboard-running")
	ap.shot("07-ticket-running")
	keep := time.Now().Add(7 * 24 * time.Hour)
	if _, err := tickets.Finish(ctx, p.pool, id, tickets.Result{OK: true, Message: "2 tables restored and verified.",
		KeptTables: map[string]string{"public.orders": "_kept.orders_r1", "auth.users": "_kept.users_r1"}, KeptUntil: &keep,
		RowCounts: map[string]int64{"public.orders": 120, "auth.users": 7}}); err != nil {
		t.Fatal(err)
	}
	ap.do(chromedp.WaitVisible(chromedp.CSS(`#result`))) // the page reloads on the state change
	ap.waitText(`#ticket-state`, "succeeded")
	ap.waitText(`#progress [data-live=percent]`, "100%")
	ap.shot("08-ticket-succeeded")

	// Roll back: typed ref, job inserted; the worker's side again by the test.
	ap.do(chromedp.SendKeys(chromedp.CSS(`#rollback-form input[name=confirm_ref]`), "proj-alpha"),
		chromedp.Click(chromedp.CSS(`#rollback`)), chromedp.WaitVisible(chromedp.CSS(`#rollback-queued`)))
	if p.jobCount(t, "restore_rollback") != 1 {
		t.Fatal("no rollback job")
	}
	if _, err := tickets.FinishRollback(ctx, p.pool, id, nil); err != nil {
		t.Fatal(err)
	}
	ap.waitText(`#ticket-state`, "rolled back")
	ap.do(chromedp.WaitVisible(chromedp.CSS(`#rolled-back-at`)))
	ap.shot("09-ticket-rolled-back")

	// The other key pages.
	ap.do(chromedp.Navigate(base + "/tickets"))
	ap.waitText(`#count`, "2 tickets")
	ap.shot("10-ticket-list")
	ap.do(chromedp.Navigate(base + "/audit"))
	ap.waitText(`#audit`, "restore.rolled_back")
	ap.shot("11-audit")
	admin := c.login("admin@example.com")
	admin.do(chromedp.Navigate(base + "/users"))
	admin.waitText(`#users`, "approver2@example.com")
	admin.shot("12-users")
	admin.do(chromedp.Navigate(base + "/riverui/"))
	admin.waitText(`body`, "Available2") // River's UI, under the portal's login: two jobs available
	admin.shot("14-riverui")
	dash.do(chromedp.Navigate(base + "/"))
	dash.shot("13-dashboard")
}
