package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/tickets"
)

func (p *portal) ticketOf(t *testing.T, loc string) tickets.Ticket {
	t.Helper()
	var id int64
	if _, err := fmt.Sscanf(loc, "/tickets/%d", &id); err != nil {
		t.Fatalf("ticket location %q", loc)
	}
	tk, err := tickets.TicketGet(context.Background(), p.pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// fullPlan is the triage form of a full destructive restore from the fourth
// snapshot of proj-alpha.
func (p *portal) fullPlan() url.Values {
	return url.Values{"snapshot_id": {fmt.Sprint(p.snaps[3].ID)}, "scope_kind": {"full"}, "mode": {"destructive"}}
}

// approve posts the approval form of the ticket at loc with the ref typed
// and the plan digest the approver read.
func (b *browser) approve(loc, digest string) (*http.Response, string) {
	b.t.Helper()
	return b.post(loc+"/approve", url.Values{"confirm_ref": {"proj-alpha"}, "plan_digest": {digest}})
}

// prepareSubmit saves the triage form and asks for approval.
func (b *browser) prepareSubmit(loc string, form url.Values) {
	b.t.Helper()
	if res, body := b.post(loc+"/prepare", form); res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("prepare: %d %s", res.StatusCode, body)
	}
	b.act(loc, "submit")
}

// act posts the ticket form of verb (submit, withdraw) that takes no field
// and fails the test unless it redirects.
func (b *browser) act(loc, verb string) {
	b.t.Helper()
	if res, body := b.post(loc+"/"+verb, nil); res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("%s: %d %s", verb, res.StatusCode, body)
	}
}

// TestStaleApprovalPageRefused is the finding: an approver loaded a ticket
// saying one table would be replaced; the operator withdrew, re-prepared a
// full destructive restore and resubmitted; the approver's open page posted
// its form. The post is refused, nothing is queued, and the page shows the
// current plan and what changed; approving that works.
func TestStaleApprovalPageRefused(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	op.prepareSubmit(loc, url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"tables"},
		"tables": {"public.orders"}, "mode": {"destructive"}})
	ap := p.login(t, "approver@example.com")
	_, page := ap.get(loc)
	if !strings.Contains(page, "1 table(s) (public.orders) will be replaced") {
		t.Fatal("the approver's page does not show the one-table plan")
	}
	seen := digestOf(t, page)

	if res, _ := op.post(loc+"/withdraw", nil); res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "#triage") {
		t.Fatalf("withdraw and edit: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	op.prepareSubmit(loc, p.fullPlan())

	res, body := ap.approve(loc, seen)
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "the plan changed since you loaded it") {
		t.Fatalf("stale approval: %d", res.StatusCode)
	}
	if missing := lacking(body, `id="plan-changed"`, "scope: tables -&gt; full", "tables: public.orders -&gt; (none)",
		"The database of the live project proj-alpha will be replaced"); len(missing) > 0 {
		t.Errorf("refusal page lacks %q", missing)
	}
	if n := p.jobCount(t, "restore"); n != 0 {
		t.Fatalf("the stale approval queued %d restore(s)", n)
	}
	if tk := p.ticketOf(t, loc); tk.State != tickets.StateAwaitingApproval || tk.ApprovedBy != 0 {
		t.Fatalf("after the refusal: %s approved by %d", tk.State, tk.ApprovedBy)
	}
	current := digestOf(t, body)
	if current == seen {
		t.Fatal("the refusal page carries the stale digest")
	}
	if res, _ := ap.approve(loc, current); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve the current plan: %d", res.StatusCode)
	}
	if n := p.jobCount(t, "restore"); n != 1 {
		t.Fatalf("restores queued: %d", n)
	}
	// An old form without any digest (as before this change) is refused too.
	loc2 := op.createTicket("destructive")
	op.prepareSubmit(loc2, p.fullPlan())
	if res, _ := ap.post(loc2+"/approve", url.Values{"confirm_ref": {"proj-alpha"}}); res.StatusCode != http.StatusConflict {
		t.Fatalf("approval without a digest: %d", res.StatusCode)
	}
}

// TestResubmissionSelfApprovalRefused: approver A prepared and submitted
// (self-approval refused); operator B withdrew and resubmitted unchanged,
// becoming the preparer. A's approval is still refused, on the page and on
// a post.
func TestResubmissionSelfApprovalRefusedPages(t *testing.T) {
	t.Parallel()
	p, a, loc := newTicketBy(t, "approver@example.com")
	a.prepareSubmit(loc, p.fullPlan())
	op := p.login(t, "operator@example.com")
	op.act(loc, "withdraw")
	op.act(loc, "submit")
	if tk := p.ticketOf(t, loc); tk.PreparedBy != p.users["operator"].ID {
		t.Fatalf("preparer after resubmission: %d", tk.PreparedBy)
	}
	_, body := a.get(loc)
	if strings.Contains(body, `id="approve-form"`) || !strings.Contains(body, "You prepared or submitted a version of this plan") {
		t.Fatal("the first preparer is offered the approval")
	}
	// Post anyway, with the current digest (from a second approver's page).
	_, other := p.login(t, "approver2@example.com").get(loc)
	res, body := a.approve(loc, digestOf(t, other))
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "another approver must approve it") {
		t.Fatalf("self-approval by resubmission: %d", res.StatusCode)
	}
	if n := p.jobCount(t, "restore"); n != 0 {
		t.Fatalf("queued: %d", n)
	}
}

// TestSavingTriageWhilePendingRefused: saving the triage form while approval
// is pending neither withdraws it nor changes the plan or the preparer.
func TestSavingTriageWhilePendingRefused(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	op.prepareSubmit(loc, url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"tables"},
		"tables": {"public.orders"}, "mode": {"destructive"}})
	ap := p.login(t, "approver@example.com")
	_, body := ap.get(loc)
	if strings.Contains(body, `id="triage"`) || !strings.Contains(body, `id="approve-form"`) {
		t.Fatal("triage form offered while approval is pending")
	}
	res, body := ap.post(loc+"/prepare", p.fullPlan())
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "approval is pending") || !strings.Contains(body, "Withdraw and edit") {
		t.Fatalf("triage saved while pending: %d", res.StatusCode)
	}
	tk := p.ticketOf(t, loc)
	if tk.State != tickets.StateAwaitingApproval || tk.PreparedBy != p.users["operator"].ID || tk.Scope.Kind != tickets.ScopeTables {
		t.Fatalf("the refused save changed the ticket: %+v", tk)
	}
	// The approver was not made an editor: they can still approve.
	if res, _ := ap.approve(loc, digestOf(t, body)); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve after the refused save: %d", res.StatusCode)
	}
}

// TestLapsedApprovalCannotBeUsed: a request older than the approval TTL is
// refused and the ticket is back to ready; the page says so.
func TestLapsedApprovalCannotBeUsed(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	op.prepareSubmit(loc, p.fullPlan())
	ap := p.login(t, "approver@example.com")
	_, body := ap.get(loc)
	digest := digestOf(t, body)
	tk := p.ticketOf(t, loc)
	if _, err := p.pool.Exec(context.Background(), `UPDATE ticket_plans SET created_at = now() - interval '25 hours' WHERE ticket_id = $1`, tk.ID); err != nil {
		t.Fatal(err)
	}
	res, body := ap.approve(loc, digest)
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "lapsed") {
		t.Fatalf("lapsed approval: %d", res.StatusCode)
	}
	if n := p.jobCount(t, "restore"); n != 0 {
		t.Fatalf("queued: %d", n)
	}
	if tk := p.ticketOf(t, loc); tk.State != tickets.StateReady {
		t.Fatalf("state after lapse: %s", tk.State)
	}
	if !strings.Contains(body, "Approval request lapsed") || !strings.Contains(body, "approval.lapsed") {
		t.Fatal("the page does not show the lapse on the thread and in the audit")
	}
}
