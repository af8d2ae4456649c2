package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestProposalPages: a change proposed by mail shows on the ticket page with
// its diff; an operator accepts it through the real router (the pending
// approval lapses, the scope changes) or dismisses one; a viewer sees no
// buttons; a proposal of another ticket is not found.
func TestProposalPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, op, loc := newTicketBy(t, "operator@example.com")
	id, _ := strconv.ParseInt(strings.TrimPrefix(loc, "/tickets/"), 10, 64)
	if res, _ := op.post(loc+"/prepare", url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"full"}, "mode": {"destructive"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("prepare: %d", res.StatusCode)
	}
	op.act(loc, "submit")
	propose := func(r tickets.MailRequest) tickets.Proposal {
		pr, ok, err := tickets.ProposeFromMail(ctx, p.pool, tickets.SystemActor("test"), id, 0, "cust@example.org",
			"the ticket is awaiting approval: its plan is staff's", "spf=pass dkim=pass dmarc=pass (by mx.example)", r)
		if err != nil || !ok {
			t.Fatalf("propose: %v %v", ok, err)
		}
		return pr
	}
	scopeP := propose(tickets.MailRequest{Scope: tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.orders"}}})
	modeP := propose(tickets.MailRequest{Mode: tickets.ModeNewProject})

	viewer := p.login(t, "viewer@example.com")
	_, body := viewer.get(loc)
	if missing := lacking(body, `id="proposals"`, "<del>full database</del>", "<ins>tables public.orders</ins>", "dmarc=pass (by mx.example)", "awaiting approval: its plan is staff"); len(missing) > 0 {
		t.Fatalf("ticket page lacks %q", missing)
	}
	if strings.Contains(body, "/proposals/") {
		t.Error("a viewer is offered to decide")
	}
	if res, _ := viewer.post(fmt.Sprintf("%s/proposals/%d/accept", loc, scopeP.ID), nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer accept: %d", res.StatusCode)
	}

	_, body = op.get(loc)
	if !strings.Contains(body, fmt.Sprintf(`action="%s/proposals/%d/accept"`, loc, scopeP.ID)) {
		t.Fatal("no accept form for the operator")
	}
	res, _ := op.post(fmt.Sprintf("%s/proposals/%d/accept", loc, scopeP.ID), nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != loc {
		t.Fatalf("accept: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	tk, err := tickets.TicketGet(ctx, p.pool, id)
	if err != nil {
		t.Fatal(err)
	}
	if tk.State != tickets.StateReady || tk.Scope.Kind != tickets.ScopeTables || tk.Scope.Tables[0] != "public.orders" {
		t.Fatalf("after accept: %+v", tk)
	}
	res, body = op.post(fmt.Sprintf("%s/proposals/%d/accept", loc, scopeP.ID), nil)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "accepted already") {
		t.Errorf("second accept: %d", res.StatusCode)
	}
	if res, _ := op.post(fmt.Sprintf("%s/proposals/%d/dismiss", loc, modeP.ID), url.Values{"reason": {"customer confirmed by phone"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("dismiss: %d", res.StatusCode)
	}
	if pr, _ := tickets.ProposalGet(ctx, p.pool, modeP.ID); pr.Status != tickets.ProposalDismissed {
		t.Errorf("dismissed: %+v", pr)
	}
	stranger, ok, err := tickets.ProposeFromMail(ctx, p.pool, tickets.SystemActor("test"), id, 0, "Colleague@Example.org",
		"not from the requester (colleague@example.org)", "spf=<script>alert(1)</script>", tickets.MailRequest{Mode: tickets.ModeNewProject})
	if err != nil || !ok {
		t.Fatalf("propose: %v %v", ok, err)
	}
	_, body = op.get(loc)
	if !strings.Contains(body, "List colleague@example.org as the requester") {
		t.Fatal("no way to list the stranger as a colleague")
	}
	if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)") {
		t.Error("a hostile header value reached the page unescaped")
	}
	if res, _ := op.post(fmt.Sprintf("%s/proposals/%d/trust", loc, stranger.ID), nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("trust: %d", res.StatusCode)
	}
	tk, _ = tickets.TicketGet(ctx, p.pool, id)
	if ok, err := tickets.IsRequester(ctx, p.pool, tk, "colleague@example.org"); err != nil || !ok {
		t.Errorf("the colleague is not listed: %v %v", ok, err)
	}
	other := op.createTicket("new_project")
	if res, _ := op.post(fmt.Sprintf("%s/proposals/%d/accept", other, modeP.ID), nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("another ticket's proposal: %d", res.StatusCode)
	}
}

type noJobs struct{}

func (noJobs) InsertTx(context.Context, pgx.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{}}, nil
}

// TestUnfiledPage: mail that could not be filed is listed with its error
// for staff, and an operator can queue it again once.
func TestUnfiledPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPortal(t)
	raw := []byte("From: dana@customer.example\r\nSubject: stuck mail\r\nMessage-ID: <stuck-1@customer.example>\r\n\r\nrestore proj-alpha\r\n")
	d, err := intake.Deliver(ctx, p.pool, noJobs{}, intake.ViaSMTP, mail.Envelope{From: "dana@customer.example"}, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := intake.ProcessFailed(ctx, p.pool, d.MailID, errors.New("boom: the database refused")); err != nil {
		t.Fatal(err)
	}
	viewer := p.login(t, "viewer@example.com")
	res, body := viewer.get("/mail/unfiled")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`id="unfiled-%d"`, d.MailID)) ||
		!strings.Contains(body, "stuck mail") || !strings.Contains(body, "boom: the database refused") || !strings.Contains(body, `href="/mail/unfiled"`) {
		t.Fatalf("unfiled page: %d\n%s", res.StatusCode, body)
	}
	if res, _ := viewer.post(fmt.Sprintf("/mail/unfiled/%d/retry", d.MailID), nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer retry: %d", res.StatusCode)
	}
	op := p.login(t, "operator@example.com")
	if res, _ := op.post(fmt.Sprintf("/mail/unfiled/%d/retry", d.MailID), nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %d", res.StatusCode)
	}
	st, err := intake.MailGet(ctx, p.pool, d.MailID)
	if err != nil || st.Status != "received" {
		t.Fatalf("after retry: %+v %v", st, err)
	}
	if p.jobCount(t, "mail_process") != 1 {
		t.Errorf("retry queued %d process jobs", p.jobCount(t, "mail_process"))
	}
	_, body = op.get("/mail/unfiled")
	if !strings.Contains(body, `id="unfiled-none"`) {
		t.Error("a queued mail is still listed")
	}
	if res, _ := op.post(fmt.Sprintf("/mail/unfiled/%d/retry", d.MailID), nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("second retry: %d", res.StatusCode)
	}
	if p.jobCount(t, "mail_process") != 1 {
		t.Error("a mail that is not failed was queued again")
	}
}
