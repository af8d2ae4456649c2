package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestBrowserPreviewStagedReview walks a destructive tables ticket in real
// Chromium through its preview (live rows counted now against the
// snapshot's), approval, the staged review of the paused restore (a real
// row comparison of a restored copy against live) and the confirmation of
// the cut-over with the ref typed; the screenshots show the numbers. The
// worker's side (the pause) is played through the domain packages: this
// package does not run jobs.
func TestBrowserPreviewStagedReview(t *testing.T) {
	p := newPortal(t)
	ctx := context.Background()
	base := p.srv.URL
	open := func(url, sql string) *pgx.Conn {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	const orders = `CREATE TABLE public.orders (id int PRIMARY KEY, note text);
		INSERT INTO public.orders SELECT g, 'order ' || g FROM generate_series(1, 1234) g`
	live := testenv.NewOwnedDatabase(t)
	lc := open(live.URL, orders+`; DELETE FROM public.orders WHERE id IN (7, 8, 9); UPDATE public.orders SET note = 'edited' WHERE id = 42;
		INSERT INTO public.orders VALUES (5000, 'written after the snapshot')`)
	copyConn := open(testenv.NewDatabase(t), orders) // the restored copy
	if _, err := p.pool.Exec(ctx, `UPDATE projects SET database_name = $1 WHERE ref = 'proj-alpha'`, live.Name); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-30 * time.Hour).Format(time.RFC3339)
	code, got := p.api(t, p.token(t, auth.RoleOperator), "POST", "/api/v1/tickets", map[string]any{
		"project_ref": "proj-alpha", "requested_at": at, "mode": "destructive", "requester_email": "cust@example.org",
		"scope": map[string]any{"kind": "tables", "tables": []string{"public.orders"}}, "options": map[string]any{"staged_review": true}})
	if code != http.StatusCreated || got["state"] != "awaiting_approval" {
		t.Fatalf("create: %d %v", code, got)
	}
	id := int64(got["id"].(float64))
	path := fmt.Sprintf("/tickets/%d", id)

	c := newChromium(t, p)
	ap := c.login("approver@example.com")
	ap.do(chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(`#preview-tables`)))
	ap.waitText(`#preview-tables tr[data-table="public.orders"] td[data-col=live]`, "1,232")
	ap.waitText(`#preview-loss`, "Everything written to public.orders after")
	ap.waitText(`#preview-facts`, "Staged review")
	ap.shot("preview-01-plan-in-numbers")
	ap.do(chromedp.SendKeys(chromedp.CSS(`#approve-form input[name=confirm_ref]`), "proj-alpha"),
		chromedp.Click(chromedp.CSS(`#approve`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	ap.waitText(`#ticket-state`, "queued")

	// The worker: running, the copy verified and compared, the job snoozed.
	tk, err := tickets.TicketGet(ctx, p.pool, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.MarkRunning(ctx, p.pool, id, tk.JobID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE river_job SET state = 'scheduled', scheduled_at = now() + interval '1 hour' WHERE id = $1`, tk.JobID); err != nil {
		t.Fatal(err)
	}
	res, err := compare.Table(ctx, lc, copyConn, "public", "orders", compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.StagedReviewRecord(ctx, p.pool, tickets.StagedReview{TicketID: id, JobID: tk.JobID,
		StagingDatabase: "staging_copy", PlanDigest: "d", Tables: []compare.Result{res}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	ap.do(chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(`#staged-review`)))
	row := `#review-tables tr[data-table="public.orders"] `
	ap.waitText(row+`td[data-col=only-live]`, "1")
	ap.waitText(row+`td[data-col=only-snapshot]`, "3")
	ap.waitText(row+`td[data-col=differ]`, "1")
	ap.waitText(row+`td[data-col=same]`, "1,230")
	ap.do(chromedp.Click(chromedp.CSS(row + `td[data-col=only-snapshot] summary`)))
	ap.waitText(row+`td[data-col=only-snapshot] .sample-keys`, "id=7")
	ap.shot("preview-02-staged-review")
	ap.do(chromedp.SendKeys(chromedp.CSS(`#review-confirm-form input[name=confirm_ref]`), "proj-alpha"),
		chromedp.Click(chromedp.CSS(`#review-confirm`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	ap.waitText(`#review-state`, "cut-over confirmed by approver@example.com")
	ap.shot("preview-03-cutover-confirmed")
	if rv, err := tickets.StagedReviewGet(ctx, p.pool, id); err != nil || rv.State != tickets.ReviewConfirmed {
		t.Fatalf("review: %+v %v", rv, err)
	}
}
