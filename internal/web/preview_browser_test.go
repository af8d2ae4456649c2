package web_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/restoreportal/portal/internal/compare"
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
	const orders = `CREATE TABLE public.orders (id int PRIMARY KEY, note text);
		INSERT INTO public.orders SELECT g, 'order ' || g FROM generate_series(1, 1234) g`
	lc, copyConn := p.liveAndCopy(t, orders, `DELETE FROM public.orders WHERE id IN (7, 8, 9); UPDATE public.orders SET note = 'edited' WHERE id = 42;
		INSERT INTO public.orders VALUES (5000, 'written after the snapshot')`)
	id, got := p.ordersTicket(t, "destructive", stagedOptions)
	if got["state"] != "awaiting_approval" {
		t.Fatalf("create: %v", got)
	}
	path := fmt.Sprintf("/tickets/%d", id)

	c := newChromium(t, p)
	ap := c.login("approver@example.com")
	ap.visit(path, `#preview-tables`)
	ap.waitText(`#preview-tables tr[data-table="public.orders"] td[data-col=live]`, "1,232")
	ap.waitText(`#preview-loss`, "Everything written to public.orders after")
	ap.waitText(`#preview-facts`, "Staged review")
	ap.shot("preview-01-plan-in-numbers")
	ap.confirmWithRef(`#approve-form`, `#approve`)
	ap.waitText(`#ticket-state`, "queued")

	// The worker: the copy verified and compared, running, the job snoozed.
	res, err := compare.Table(ctx, lc, copyConn, "public", "orders", compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.pauseForReview(t, id, "staging_copy", res)
	ap.visit(path, `#staged-review`)
	row := `#review-tables tr[data-table="public.orders"] `
	ap.waitText(row+`td[data-col=only-live]`, "1")
	ap.waitText(row+`td[data-col=only-snapshot]`, "3")
	ap.waitText(row+`td[data-col=differ]`, "1")
	ap.waitText(row+`td[data-col=same]`, "1,230")
	ap.do(chromedp.Click(chromedp.CSS(row + `td[data-col=only-snapshot] summary`)))
	ap.waitText(row+`td[data-col=only-snapshot] .sample-keys`, "id=7")
	ap.shot("preview-02-staged-review")
	ap.confirmWithRef(`#review-confirm-form`, `#review-confirm`)
	ap.waitText(`#review-state`, "cut-over confirmed by approver@example.com")
	ap.shot("preview-03-cutover-confirmed")
	if rv, err := tickets.StagedReviewGet(ctx, p.pool, id); err != nil || rv.State != tickets.ReviewConfirmed {
		t.Fatalf("review: %+v %v", rv, err)
	}
}
