package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestBrowserUndeleteStagedReviewWalk walks an undelete with staged review
// in real Chromium: the approval page says the exact counts come at the
// pause; after approval the worker's part is played here (this package runs
// no jobs): the real dry run (compare.Table of a restored copy against live,
// limited to the listed keys) recorded as the paused worker records it; the
// ticket page shows its numbers; the approver types the ref and confirms the
// merge; the real merge's result is shown. The screenshots show the numbers.
func TestBrowserUndeleteStagedReviewWalk(t *testing.T) {
	p := newPortal(t)
	ctx := context.Background()
	opTok := p.token(t, auth.RoleOperator)
	id, _ := p.ordersTicket(t, "undelete", stagedOptions)
	api := fmt.Sprintf("/api/v1/tickets/%d", id)
	keys := []string{"3", "4", "5", "10", "11"}
	for _, step := range []struct {
		path string
		body map[string]any
	}{{"/withdraw", nil}, {"/prepare", map[string]any{"undelete": map[string]any{"keys": keys}, "options": map[string]any{"staged_review": true}}}, {"/submit", nil}} {
		if code, got := p.api(t, opTok, "POST", api+step.path, step.body); code != http.StatusOK {
			t.Fatalf("%s: %d %v", step.path, code, got)
		}
	}
	tk, err := tickets.TicketGet(ctx, p.pool, id)
	if err != nil || !tk.Options.StagedReview || len(tk.Options.Undelete.Keys) != 5 {
		t.Fatalf("saved options: %+v %v", tk.Options, err)
	}

	// Live lost rows 3..7 and changed 10; the restored copy is the snapshot.
	orders := `CREATE TABLE public.orders (id int PRIMARY KEY, note text);
		INSERT INTO public.orders SELECT g, 'order ' || g FROM generate_series(1, 50) g`
	lc, staging := p.liveAndCopy(t, orders, `DELETE FROM public.orders WHERE id BETWEEN 3 AND 7; UPDATE public.orders SET note = 'edited' WHERE id = 10`)

	c := newChromium(t, p)
	ap := c.login("approver@example.com")
	path := fmt.Sprintf("/tickets/%d", id)
	ap.visit(path, `#preview-undelete`)
	ap.waitText(`#preview-undelete-basis`, "come at the staged review's pause")
	ap.waitText(`#preview-facts li[data-fact=review]`, "exact dry run against live")
	ap.shot("undelete-review-01-preview")
	ap.confirmWithRef(`#approve-form`, `#approve`)
	ap.waitText(`#ticket-state`, "queued")

	// The worker: the dry run computed, running, the job paused, the dry run recorded.
	dry, err := compare.Table(ctx, lc, staging, "public", "orders", compare.Options{Limit: &compare.Limit{Keys: keys}})
	if err != nil {
		t.Fatal(err)
	}
	if dry.OnlySnapshot.Count != 3 || dry.Differ.Count != 1 || dry.Same != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	p.pauseForReview(t, id, "proj_alpha_stg_t"+fmt.Sprint(id), dry)
	row := `#review-undelete-tables tr[data-table="public.orders"] `
	ap.visit(path, `#review-undelete-tables`)
	ap.waitText(row+`td[data-col=insert]`, "3")
	ap.waitText(row+`td[data-col=conflicts]`, "1")
	ap.waitText(row+`td[data-col=identical]`, "1")
	ap.waitText(row+`[data-col=limit]`, "5 listed key(s)")
	ap.waitText(`#review-state`, "awaiting the merge confirmation")
	ap.do(chromedp.Click(chromedp.CSS(row+`td[data-col=insert] summary`)), chromedp.Click(chromedp.CSS(row+`td[data-col=conflicts] summary`)))
	ap.waitText(row+`td[data-col=insert] .sample-keys`, "id=3")
	ap.shot("undelete-review-02-dry-run")
	ap.confirmWithRef(`#review-confirm-form`, `#review-confirm`)
	ap.waitText(`.flash`, "Merge confirmed")
	if rv, err := tickets.StagedReviewGet(ctx, p.pool, id); err != nil || rv.State != tickets.ReviewConfirmed {
		t.Fatalf("after confirm: %+v %v", rv, err)
	}

	// The worker goes on: the real merge from the copy, its result recorded.
	mt := p.mergeAndFinish(t, id, lc, staging, keys, "3 rows inserted into public.orders; 1 conflict left as it is live. The merge's counts are those of the staged review.")
	if mt.Inserted != dry.OnlySnapshot.Count || mt.Conflicts != dry.Differ.Count || mt.Unchanged != dry.Same {
		t.Fatalf("merge %+v differs from the dry run %+v with live unchanged in between", mt, dry)
	}
	ap.visit(path, `#undelete-result`)
	ap.waitText(`#ticket-state`, "succeeded")
	ap.waitText(`#undelete-result .undelete-inserted`, "3")
	ap.shot("undelete-review-03-result")
}
