package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
)

var ticketLocation = regexp.MustCompile(`^/tickets/(\d+)$`)

var planDigestField = regexp.MustCompile(`name="plan_digest" value="([0-9a-f]{64})"`)

// digestOf is the plan digest the ticket page's approval form carries.
func digestOf(t testing.TB, body string) string {
	t.Helper()
	m := planDigestField.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the page has no approval form with a plan digest")
	}
	return m[1]
}

func (b *browser) createTicket(mode string) string {
	b.t.Helper()
	at := time.Now().UTC().Add(-30 * time.Hour).Format("2006-01-02T15:04")
	res, body := b.post("/tickets", url.Values{"project_ref": {"proj-alpha"}, "requester_email": {"Cust <cust@example.org>"},
		"requested_at": {at}, "requested_tz": {"UTC"}, "scope_kind": {"full"}, "mode": {mode}, "note": {"please"}})
	if res.StatusCode != http.StatusSeeOther || !ticketLocation.MatchString(res.Header.Get("Location")) {
		b.t.Fatalf("create ticket: %d %s", res.StatusCode, body)
	}
	return res.Header.Get("Location")
}

// newTicketBy is a portal with a destructive ticket that email created on
// the new-ticket form: the portal, that person's browser and the ticket's
// location.
func newTicketBy(t *testing.T, email string) (*portal, *browser, string) {
	t.Helper()
	p := newPortal(t)
	b := p.login(t, email)
	return p, b, b.createTicket("destructive")
}

func TestTicketWorkflowPages(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	_, body := op.get(loc)
	if missing := lacking(body, `id="triage"`, "resolves to the snapshot", "public.orders"); len(missing) > 0 {
		t.Fatalf("ticket page lacks %q", missing)
	}
	if !regexp.MustCompile(`<input type="radio" name="snapshot_id" value="\d+" data-snapshot-pick disabled`).MatchString(body) {
		t.Error("the corrupt snapshot is not disabled in the picker")
	}
	// Triage with a table the snapshot does not hold: the page again, with why.
	res, body := op.post(loc+"/prepare", url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"tables"},
		"tables": {"public.orders", "public.nope"}, "mode": {"destructive"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "public.nope is not in the snapshot") {
		t.Fatalf("bad table: %d", res.StatusCode)
	}
	res, _ = op.post(loc+"/prepare", url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"tables"},
		"tables": {"public.orders", "auth.users"}, "mode": {"destructive"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("prepare: %d", res.StatusCode)
	}
	_, body = op.get(loc)
	if !strings.Contains(body, `id="preflight"`) || !strings.Contains(body, "2 table(s) (public.orders, auth.users) will be replaced") {
		t.Fatalf("preflight missing:\n%s", body)
	}
	op.act(loc, "submit")
	// A viewer and the operator cannot approve.
	viewer := p.login(t, "viewer@example.com")
	if res, _ := viewer.post(loc+"/approve", url.Values{"confirm_ref": {"proj-alpha"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer approves: %d", res.StatusCode)
	}
	if res, _ := op.post(loc+"/approve", url.Values{"confirm_ref": {"proj-alpha"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("operator approves: %d", res.StatusCode)
	}
	ap := p.login(t, "approver@example.com")
	_, body = ap.get(loc)
	if !strings.Contains(body, `id="approve-form"`) {
		t.Fatal("approver sees no approval form")
	}
	digest := digestOf(t, body)
	res, body = ap.post(loc+"/approve", url.Values{"confirm_ref": {"proj-bravo"}, "plan_digest": {digest}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "type the project ref proj-alpha") {
		t.Fatalf("wrong ref: %d", res.StatusCode)
	}
	if p.jobCount(t, "restore") != 0 {
		t.Fatal("job inserted before approval")
	}
	if res, _ := ap.approve(loc, digest); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", res.StatusCode)
	}
	if p.jobCount(t, "restore") != 1 {
		t.Fatal("no restore job after approval")
	}
	_, body = ap.get(loc)
	if !strings.Contains(body, `data-state="queued"`) || !strings.Contains(body, "Approved; the restore is queued.") {
		t.Fatal("ticket page after approval")
	}
	_, body = ap.get("/")
	if !strings.Contains(body, `id="active"`) {
		t.Fatal("dashboard does not list the queued restore")
	}
}

func TestPreparerCannotApprove(t *testing.T) {
	t.Parallel()
	p, ap, loc := newTicketBy(t, "approver@example.com")
	if res, _ := ap.post(loc+"/prepare", p.fullPlan()); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("prepare: %d", res.StatusCode)
	}
	ap.post(loc+"/submit", nil)
	_, body := ap.get(loc)
	if !strings.Contains(body, "You prepared this restore; another approver must approve it.") || strings.Contains(body, `id="approve-form"`) {
		t.Fatal("the preparer is offered the approval")
	}
	res, body := ap.post(loc+"/approve", url.Values{"confirm_ref": {"proj-alpha"}})
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "another approver must approve") {
		t.Fatalf("preparer approves: %d", res.StatusCode)
	}
}

func TestTicketListFiltersAndPages(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	ctx := context.Background()
	op := tickets.UserActor(p.users[auth.RoleOperator], "")
	for i := 0; i < 60; i++ {
		ref := "proj-alpha"
		if i%3 == 0 {
			ref = "proj-bravo"
		}
		if _, err := tickets.Create(ctx, p.pool, nil, op, tickets.NewTicket{Source: tickets.SourceAPI, ProjectRef: ref,
			RequesterEmail: fmt.Sprintf("r%d@example.org", i%5), Subject: fmt.Sprintf("case %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	b := p.login(t, "viewer@example.com")
	for _, tc := range []struct {
		query string
		count string
	}{
		{"", "60 tickets"},
		{"?project=proj-bravo", "20 tickets"},
		{"?requester=r1@example.org", "12 tickets"},
		{"?q=case+1", "11 tickets"},
		{"?state=new&project=proj-alpha", "40 tickets"},
		{"?state=running", "0 tickets"},
	} {
		res, body := b.get("/tickets" + tc.query)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `<p class="muted" id="count">`+tc.count) {
			t.Errorf("%s: want %s", tc.query, tc.count)
		}
	}
	_, body := b.get("/tickets?page=2")
	if !strings.Contains(body, "page 2 of 2") || !strings.Contains(body, "case 9<") {
		t.Errorf("page 2")
	}
	b.wantStatus(http.StatusBadRequest, "/tickets?state=bogus")
}

func TestNewTicketFormShowsErrors(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	op := p.login(t, "operator@example.com")
	res, body := op.post("/tickets", url.Values{"project_ref": {"proj-zulu"}, "requester_email": {"c@example.org"}, "mode": {"new_project"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "no project") || !strings.Contains(body, `value="proj-zulu"`) {
		t.Fatalf("unknown project: %d", res.StatusCode)
	}
	p.login(t, "viewer@example.com").wantStatus(http.StatusForbidden, "/tickets/new")
}

func TestLiveProgressStream(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	b := p.login(t, "viewer@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.srv.URL+"/live/progress?ids=1,2", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %s", res.Header.Get("Content-Type"))
	}
	buf := make([]byte, 256)
	n, _ := res.Body.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "event: progress\ndata: [") {
		t.Fatalf("first event: %q", buf[:n])
	}
}

func TestCorrectTheRequest(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	op := p.login(t, "operator@example.com")
	res, _ := op.post("/tickets", url.Values{"project_ref": {"proj-alpha"}, "requester_email": {"c@example.org"}, "mode": {"new_project"}})
	loc := res.Header.Get("Location")
	_, body := op.get(loc)
	if !strings.Contains(body, `id="edit-request"`) {
		t.Fatal("no request form in triage")
	}
	at := time.Now().UTC().Add(-50 * time.Hour).Format("2006-01-02T15:04")
	if res, body := op.post(loc+"/edit", url.Values{"project_ref": {"proj-nope"}, "requested_at": {at}}); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "no project") {
		t.Fatalf("unknown project: %d", res.StatusCode)
	}
	if res, _ := op.post(loc+"/edit", url.Values{"project_ref": {"proj-bravo"}, "requested_at": {at}, "requested_tz": {"Europe/Berlin"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", res.StatusCode)
	}
	var id int64
	fmt.Sscanf(loc, "/tickets/%d", &id)
	tk, err := tickets.TicketGet(context.Background(), p.pool, id)
	if err != nil || tk.ProjectRef != "proj-bravo" || tk.SnapshotID == 0 || tk.RequestedTZ != "Europe/Berlin" {
		t.Fatalf("after edit: %v %+v", err, tk)
	}
	viewer := p.login(t, "viewer@example.com")
	if res, _ := viewer.post(loc+"/edit", url.Values{"project_ref": {"proj-alpha"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer edits: %d", res.StatusCode)
	}
}

// TestTriageAllowDanglingOption checks the triage form's opt-in for a
// destructive tables restore that would leave rows pointing at missing rows:
// saved when ticked, cleared when not.
func TestTriageAllowDanglingOption(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil {
		t.Fatalf("ticket location %q", loc)
	}
	form := url.Values{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"tables"},
		"tables": {"public.orders"}, "mode": {"destructive"}, "allow_dangling": {"1"}}
	for _, want := range []bool{true, false} {
		if !want {
			form.Del("allow_dangling")
		}
		if res, _ := op.post(loc+"/prepare", form); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("prepare: %d", res.StatusCode)
		}
		tk, err := tickets.TicketGet(context.Background(), p.pool, id)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Options.AllowDangling != want {
			t.Fatalf("allow_dangling saved as %v, want %v", tk.Options.AllowDangling, want)
		}
		_, body := op.get(loc)
		if strings.Contains(body, `name="allow_dangling" value="1" checked`) != want {
			t.Fatalf("the form does not show allow_dangling=%v", want)
		}
	}
}

// TestNewTicketPrefilledFromRequestARestore follows the project page's
// "Request a restore" link: the form holds the project and the snapshot's time.
func TestNewTicketPrefilledFromRequestARestore(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	op := p.login(t, "operator@example.com")
	res, body := op.get("/tickets/new?project=proj-alpha&snapshot=7&at=2026-05-03T02%3A00%3A00Z")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("new ticket form: %d", res.StatusCode)
	}
	if !strings.Contains(body, `value="proj-alpha"`) || !strings.Contains(body, `value="2026-05-03T02:00"`) {
		t.Fatal("form not prefilled with the project and the snapshot's time")
	}
}

// TestAskForInfoQueuesTheRequestersMail: asking for information on the
// ticket page puts the ticket on hold and queues the mail to the requester
// (the notice job decides whether the requester can be mailed).
func TestAskForInfoQueuesTheRequestersMail(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	before := p.jobCount(t, "mail_notify")
	res, body := op.post(loc+"/decide", url.Values{"decision": {"needs_info"}, "message": {"Which tables, exactly?"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("ask for info: %d %s", res.StatusCode, body)
	}
	if got := p.jobCount(t, "mail_notify"); got != before+1 {
		t.Fatalf("mail_notify jobs %d, want %d", got, before+1)
	}
	_, body = op.get(loc)
	if !strings.Contains(body, "Which tables, exactly?") {
		t.Fatal("the question is not on the thread")
	}
}
