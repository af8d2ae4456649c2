package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestBrowserUndeleteWalk walks an undelete ticket in real Chromium: the
// limit set through the API's prepare (listed keys), the preview's dry-run
// bounds on the approval page (counted now from live and the snapshot's
// inventory, labelled estimates), the approval with the ref typed, and the
// result of a real merge (cluster.MergeRows of a restored copy into live,
// played here for the worker as the staged-review walk does: this package
// does not run jobs). The screenshots show the numbers.
func TestBrowserUndeleteWalk(t *testing.T) {
	p := newPortal(t)
	ctx := context.Background()
	opTok := p.token(t, auth.RoleOperator)
	id, got := p.ordersTicket(t, "undelete", nil)
	if got["state"] != "awaiting_approval" || got["mode"] != "undelete" {
		t.Fatalf("create: %v", got)
	}
	api := fmt.Sprintf("/api/v1/tickets/%d", id)
	code, got := p.api(t, opTok, "POST", api+"/withdraw", nil)
	if code != http.StatusOK {
		t.Fatalf("withdraw: %d %v", code, got)
	}
	// The API's limit: a SQL operator is refused naming the field; keys pass.
	if code, got = p.api(t, opTok, "POST", api+"/prepare", map[string]any{
		"undelete": map[string]any{"filter": map[string]any{"column": "id", "op": "; DROP TABLE x", "value": "1"}}}); code != http.StatusUnprocessableEntity || got["field"] == nil {
		t.Fatalf("hostile operator: %d %v", code, got)
	}
	keys := []string{"3", "4", "5", "10"}
	if code, got = p.api(t, opTok, "POST", api+"/prepare", map[string]any{"undelete": map[string]any{"keys": []string{" 3", "4 ", "", "5", "10"}}}); code != http.StatusOK {
		t.Fatalf("prepare with keys: %d %v", code, got)
	}
	if code, got = p.api(t, opTok, "POST", api+"/submit", nil); code != http.StatusOK || got["state"] != "awaiting_approval" {
		t.Fatalf("submit: %d %v", code, got)
	}
	tk, err := tickets.TicketGet(ctx, p.pool, id)
	if err != nil || fmt.Sprint(tk.Options.Undelete.Keys) != fmt.Sprint(keys) || tk.Options.Undelete.Table != "public.orders" {
		t.Fatalf("saved limit: %+v %v", tk.Options.Undelete, err)
	}

	// Live lost rows 3..7 and changed 10; the restored copy is the snapshot.
	var snapRows int64
	if err := p.pool.QueryRow(ctx, `SELECT rows FROM snapshot_tables WHERE snapshot_id = $1 AND schema_name = 'public' AND table_name = 'orders'`, tk.SnapshotID).Scan(&snapRows); err != nil {
		t.Fatal(err)
	}
	orders := fmt.Sprintf(`CREATE TABLE public.orders (id int PRIMARY KEY, note text);
		INSERT INTO public.orders SELECT g, 'order ' || g FROM generate_series(1, %d) g`, snapRows)
	lc, staging := p.liveAndCopy(t, orders, `DELETE FROM public.orders WHERE id BETWEEN 3 AND 7; UPDATE public.orders SET note = 'edited' WHERE id = 10`)

	// The preview API states bounds, not exact numbers.
	code, got = p.api(t, opTok, "GET", api+"/preview", nil)
	if code != http.StatusOK {
		t.Fatalf("preview: %d %v", code, got)
	}
	pt := got["tables"].([]any)[0].(map[string]any)
	ud, _ := pt["undelete"].(map[string]any)
	if ud == nil || ud["insert_min"].(float64) != 0 || ud["insert_max"].(float64) != 4 || ud["conflicts_max"].(float64) != 4 || ud["exact"] != false ||
		got["undelete"] == nil || got["loss_window"] != nil {
		t.Fatalf("preview of the undelete: %v", got)
	}

	c := newChromium(t, p)
	ap := c.login("approver@example.com")
	path := fmt.Sprintf("/tickets/%d", id)
	row := `#preview-undelete-tables tr[data-table="public.orders"] `
	ap.visit(path, `#preview-undelete`)
	ap.waitText(`#preview-tables tr[data-table="public.orders"] td[data-col=live]`, tickets.FormatCount(snapRows-5))
	ap.waitText(row+`td[data-col=insert]`, "between 0 and 4 (estimate)")
	ap.waitText(row+`td[data-col=conflicts]`, "at most 4 (estimate)")
	ap.waitText(row+`td[data-col=limit]`, "4 listed key(s): 3, 4, 5, 10")
	ap.waitText(`#preview-undelete-basis`, "the worker reports the exact rows inserted")
	ap.waitText(`#preview-facts li[data-fact=safety]`, "no safety snapshot is taken")
	if ap.exists(`#preview-loss`) {
		t.Fatal("an undelete's preview speaks of data lost")
	}
	ap.shot("undelete-01-preview-dry-run")
	ap.confirmWithRef(`#approve-form`, `#approve`)
	ap.waitText(`#ticket-state`, "queued")
	ap.shot("undelete-02-approved")

	// The worker: running, the copy merged into live, the result recorded.
	p.markRunning(t, id)
	if mt := p.mergeAndFinish(t, id, lc, staging, keys, "3 rows inserted into public.orders; 1 conflict left as it is live"); mt.Inserted != 3 || mt.Conflicts != 1 {
		t.Fatalf("merge: %+v", mt)
	}
	var liveRows int64
	if err := lc.QueryRow(ctx, `SELECT count(*) FROM public.orders`).Scan(&liveRows); err != nil || liveRows != snapRows-2 {
		t.Fatalf("live rows after the undelete: %d %v", liveRows, err)
	}
	ap.visit(path, `#undelete-result`)
	ap.waitText(`#ticket-state`, "succeeded")
	ap.waitText(`#undelete-result .undelete-inserted`, "3")
	ap.waitText(`#undelete-result .undelete-conflicts`, "id=10")
	ap.shot("undelete-03-result")
}
