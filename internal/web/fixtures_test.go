package web_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
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

// ordersTicket creates, through the API as an operator, a ticket of mode
// for proj-alpha's public.orders as it was 30 hours ago; extra adds to or
// overrides the request's fields (options, note). It fails the test unless
// the API answers 201 and returns the ticket's id and the API's answer.
func (p *portal) ordersTicket(t *testing.T, mode string, extra map[string]any) (int64, map[string]any) {
	t.Helper()
	body := map[string]any{
		"project_ref": "proj-alpha", "requested_at": time.Now().UTC().Add(-30 * time.Hour).Format(time.RFC3339),
		"mode": mode, "requester_email": "cust@example.org",
		"scope": map[string]any{"kind": "tables", "tables": []string{"public.orders"}}}
	maps.Copy(body, extra)
	code, got := p.api(t, p.token(t, auth.RoleOperator), "POST", "/api/v1/tickets", body)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, got)
	}
	return int64(got["id"].(float64)), got
}

// stagedOptions asks for a staged review.
var stagedOptions = map[string]any{"options": map[string]any{"staged_review": true}}

// markRunning plays the worker taking up ticket id's job: the ticket is
// running under it. It returns the ticket as it was before.
func (p *portal) markRunning(t *testing.T, id int64) tickets.Ticket {
	t.Helper()
	ctx := context.Background()
	tk, err := tickets.TicketGet(ctx, p.pool, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.MarkRunning(ctx, p.pool, id, tk.JobID); err != nil {
		t.Fatal(err)
	}
	return tk
}

// pauseForReview plays the worker up to a staged review's pause, as the
// worker records it: ticket id running, its job snoozed, and the
// comparison of the restored copy (in database staging) against live
// recorded.
func (p *portal) pauseForReview(t *testing.T, id int64, staging string, res compare.Result) tickets.StagedReview {
	t.Helper()
	ctx := context.Background()
	tk := p.markRunning(t, id)
	if _, err := p.pool.Exec(ctx, `UPDATE river_job SET state = 'scheduled', scheduled_at = now() + interval '1 hour' WHERE id = $1`, tk.JobID); err != nil {
		t.Fatal(err)
	}
	rv, err := tickets.StagedReviewRecord(ctx, p.pool, tickets.StagedReview{TicketID: id, JobID: tk.JobID, StagingDatabase: staging,
		PlanDigest: "d", Tables: []compare.Result{res}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return rv
}

// pausedReview is an approved tables ticket of mode with staged review
// whose job paused with res as its comparison.
func (p *portal) pausedReview(t *testing.T, mode string, res compare.Result) (int64, tickets.StagedReview) {
	t.Helper()
	id, got := p.ordersTicket(t, mode, stagedOptions)
	code, got := p.api(t, p.token(t, auth.RoleApprover), "POST", fmt.Sprintf("/api/v1/tickets/%d/approve", id),
		map[string]any{"confirm_ref": "proj-alpha", "plan_digest": got["plan_digest"]})
	if code != http.StatusOK || got["state"] != "queued" {
		t.Fatalf("approve: %d %v", code, got)
	}
	return id, p.pauseForReview(t, id, "proj_alpha_stg_"+fmt.Sprint(id), res)
}

// confirmReview posts the staged review's confirm form of the ticket at
// path with the review digest the page showed and the ref typed.
func (b *browser) confirmReview(path, digest, ref string) (*http.Response, string) {
	b.t.Helper()
	return b.post(path+"/review/confirm", url.Values{"review_digest": {digest}, "confirm_ref": {ref}})
}

// openDB connects to url for the test's length and runs sql there.
func openDB(t *testing.T, url, sql string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
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

// liveAndCopy makes proj-alpha's database a new one holding orders changed
// by changes (live), and a second database holding orders (the restored
// copy), and connects to both.
func (p *portal) liveAndCopy(t *testing.T, orders, changes string) (live, restored *pgx.Conn) {
	t.Helper()
	db := testenv.NewOwnedDatabase(t)
	live = openDB(t, db.URL, orders+"; "+changes)
	restored = openDB(t, testenv.NewDatabase(t), orders)
	if _, err := p.pool.Exec(context.Background(), `UPDATE projects SET database_name = $1 WHERE ref = 'proj-alpha'`, db.Name); err != nil {
		t.Fatal(err)
	}
	return live, restored
}

// mergeAndFinish plays the worker's undelete: the listed keys of
// public.orders merged from the restored copy into live for real, and the
// ticket finished with message and the merge's counts.
func (p *portal) mergeAndFinish(t *testing.T, id int64, live, restored *pgx.Conn, keys []string, message string) cluster.MergedTable {
	t.Helper()
	ctx := context.Background()
	m, err := cluster.MergeRows(ctx, live, restored, []cluster.MergeTable{{Table: cluster.Table{Schema: "public", Name: "orders"}, Keys: keys}}, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mt := m.Tables[0]
	if _, err := tickets.Finish(ctx, p.pool, id, tickets.Result{OK: true, Message: message,
		Undelete: []tickets.UndeleteTable{{Table: mt.Table, KeyColumns: mt.KeyColumns, Candidates: mt.Candidates, Inserted: mt.Inserted,
			Conflicts: mt.Conflicts, ConflictSamples: mt.ConflictSamples, Unchanged: mt.Unchanged}}}); err != nil {
		t.Fatal(err)
	}
	return mt
}

// confirmWithRef types proj-alpha's ref into form's confirm_ref, clicks
// button and waits for the flash.
func (tb *tab) confirmWithRef(form, button string) {
	tb.do(chromedp.SendKeys(chromedp.CSS(form+` input[name=confirm_ref]`), "proj-alpha"),
		chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
}
