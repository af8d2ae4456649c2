package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/tickets"
)

// TestUndeleteTriageFormAndStaleApproval: the prepare form saves an
// undelete limited by a filter whose column and value hold SQL (kept as
// text, shown escaped); an operator the form does not offer is refused with
// the field's message and changes nothing; an approver's page loaded before
// the filter changed cannot approve the changed plan (409, the change named).
func TestUndeleteTriageFormAndStaleApproval(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	op := p.login(t, "operator@example.com")
	loc := op.createTicket("destructive")
	col, val := `status"; DROP TABLE public.orders; --`, `x' OR '1'='1`
	form := url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"tables"}, "tables": {"public.orders"}, "mode": {"undelete"},
		"undelete_filter_column": {col}, "undelete_filter_op": {"eq"}, "undelete_filter_value": {val}}
	op.prepareSubmit(loc, form)
	tk := p.ticketOf(t, loc)
	if tk.Mode != tickets.ModeUndelete || tk.Options.Undelete.Filter != (tickets.UndeleteFilter{Column: col, Op: "eq", Value: val}) || tk.Options.Undelete.Table != "public.orders" {
		t.Fatalf("saved %s %+v", tk.Mode, tk.Options.Undelete)
	}
	ap := p.login(t, "approver@example.com")
	_, page := ap.get(loc)
	if !strings.Contains(page, "No live row is updated or deleted") || !strings.Contains(page, html.EscapeString(val)) {
		t.Fatal("the approver's page does not show the undelete plan and its filter")
	}
	seen := digestOf(t, page)

	if res, _ := op.post(loc+"/withdraw", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw: %d", res.StatusCode)
	}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("undelete_filter_op", "= '' OR true; --")
	if res, body := op.post(loc+"/prepare", bad); res.StatusCode == http.StatusSeeOther || !strings.Contains(body, "is not one of the offered operators") {
		t.Fatalf("prepare with an operator not offered: %d", res.StatusCode)
	}
	if got := p.ticketOf(t, loc); got.Options.Undelete.Filter.Op != "eq" {
		t.Fatalf("a refused form changed the plan: %+v", got.Options.Undelete)
	}
	form.Set("undelete_filter_value", "pending")
	op.prepareSubmit(loc, form)
	res, body := ap.post(loc+"/approve", url.Values{"confirm_ref": {"proj-alpha"}, "plan_digest": {seen}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "undelete limited to") {
		t.Fatalf("stale approval of the undelete: %d", res.StatusCode)
	}
	if n := p.jobCount(t, "restore"); n != 0 {
		t.Fatalf("the stale approval queued %d restore(s)", n)
	}
	if res, _ := ap.post(loc+"/approve", url.Values{"confirm_ref": {"proj-alpha"}, "plan_digest": {digestOf(t, body)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve the current undelete: %d", res.StatusCode)
	}
}
