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
	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/testenv"
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
	base := p.srv.URL
	opTok := p.token(t, auth.RoleOperator)
	at := time.Now().UTC().Add(-30 * time.Hour).Format(time.RFC3339)
	code, got := p.api(t, opTok, "POST", "/api/v1/tickets", map[string]any{
		"project_ref": "proj-alpha", "requested_at": at, "mode": "undelete", "requester_email": "cust@example.org",
		"scope": map[string]any{"kind": "tables", "tables": []string{"public.orders"}}, "options": map[string]any{"staged_review": true}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, got)
	}
	id := int64(got["id"].(float64))
	api := fmt.Sprintf("/api/v1/tickets/%d", id)
	keys := []string{"3", "4", "5", "10", "11"}
	for _, step := range []struct {
		path string
		body map[string]any
	}{{"/withdraw", nil}, {"/prepare", map[string]any{"undelete": map[string]any{"keys": keys}, "options": map[string]any{"staged_review": true}}}, {"/submit", nil}} {
		if code, got = p.api(t, opTok, "POST", api+step.path, step.body); code != http.StatusOK {
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
	live := testenv.NewOwnedDatabase(t)
	lc := open(live.URL, orders+`; DELETE FROM public.orders WHERE id BETWEEN 3 AND 7; UPDATE public.orders SET note = 'edited' WHERE id = 10`)
	staging := open(testenv.NewDatabase(t), orders)
	if _, err := p.pool.Exec(ctx, `UPDATE projects SET database_name = $1 WHERE ref = 'proj-alpha'`, live.Name); err != nil {
		t.Fatal(err)
	}

	c := newChromium(t, p)
	ap := c.login("approver@example.com")
	path := fmt.Sprintf("/tickets/%d", id)
	ap.do(chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(`#preview-undelete`)))
	ap.waitText(`#preview-undelete-basis`, "come at the staged review's pause")
	ap.waitText(`#preview-facts li[data-fact=review]`, "exact dry run against live")
	ap.shot("undelete-review-01-preview")
	ap.do(chromedp.SendKeys(chromedp.CSS(`#approve-form input[name=confirm_ref]`), "proj-alpha"),
		chromedp.Click(chromedp.CSS(`#approve`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	ap.waitText(`#ticket-state`, "queued")

	// The worker: running, the dry run computed and recorded, the job paused.
	if tk, err = tickets.TicketGet(ctx, p.pool, id); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.MarkRunning(ctx, p.pool, id, tk.JobID); err != nil {
		t.Fatal(err)
	}
	dry, err := compare.Table(ctx, lc, staging, "public", "orders", compare.Options{Limit: &compare.Limit{Keys: keys}})
	if err != nil {
		t.Fatal(err)
	}
	if dry.OnlySnapshot.Count != 3 || dry.Differ.Count != 1 || dry.Same != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE river_job SET state = 'scheduled', scheduled_at = now() + interval '1 hour' WHERE id = $1`, tk.JobID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.StagedReviewRecord(ctx, p.pool, tickets.StagedReview{TicketID: id, JobID: tk.JobID, StagingDatabase: "proj_alpha_stg_t" + fmt.Sprint(id),
		PlanDigest: "d", Tables: []compare.Result{dry}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	row := `#review-undelete-tables tr[data-table="public.orders"] `
	ap.do(chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(`#review-undelete-tables`)))
	ap.waitText(row+`td[data-col=insert]`, "3")
	ap.waitText(row+`td[data-col=conflicts]`, "1")
	ap.waitText(row+`td[data-col=identical]`, "1")
	ap.waitText(row+`[data-col=limit]`, "5 listed key(s)")
	ap.waitText(`#review-state`, "awaiting the merge confirmation")
	ap.do(chromedp.Click(chromedp.CSS(row+`td[data-col=insert] summary`)), chromedp.Click(chromedp.CSS(row+`td[data-col=conflicts] summary`)))
	ap.waitText(row+`td[data-col=insert] .sample-keys`, "id=3")
	ap.shot("undelete-review-02-dry-run")
	ap.do(chromedp.SendKeys(chromedp.CSS(`#review-confirm-form input[name=confirm_ref]`), "proj-alpha"),
		chromedp.Click(chromedp.CSS(`#review-confirm`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	ap.waitText(`.flash`, "Merge confirmed")
	if rv, err := tickets.StagedReviewGet(ctx, p.pool, id); err != nil || rv.State != tickets.ReviewConfirmed {
		t.Fatalf("after confirm: %+v %v", rv, err)
	}

	// The worker goes on: the real merge from the copy, its result recorded.
	m, err := cluster.MergeRows(ctx, lc, staging, []cluster.MergeTable{{Table: cluster.Table{Schema: "public", Name: "orders"}, Keys: keys}}, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mt := m.Tables[0]
	if mt.Inserted != dry.OnlySnapshot.Count || mt.Conflicts != dry.Differ.Count || mt.Unchanged != dry.Same {
		t.Fatalf("merge %+v differs from the dry run %+v with live unchanged in between", mt, dry)
	}
	if _, err := tickets.Finish(ctx, p.pool, id, tickets.Result{OK: true, Message: "3 rows inserted into public.orders; 1 conflict left as it is live. The merge's counts are those of the staged review.",
		Undelete: []tickets.UndeleteTable{{Table: mt.Table, KeyColumns: mt.KeyColumns, Candidates: mt.Candidates, Inserted: mt.Inserted,
			Conflicts: mt.Conflicts, ConflictSamples: mt.ConflictSamples, Unchanged: mt.Unchanged}}}); err != nil {
		t.Fatal(err)
	}
	ap.do(chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(`#undelete-result`)))
	ap.waitText(`#ticket-state`, "succeeded")
	ap.waitText(`#undelete-result .undelete-inserted`, "3")
	ap.shot("undelete-review-03-result")
}
