package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestProjectsPagerKeepsPerPage: the projects pager keeps per_page; an
// empty search says so.
func TestProjectsPagerKeepsPerPage(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	b := p.login(t, "viewer@example.com")
	_, body := b.get("/projects?per_page=1")
	if !strings.Contains(body, `href="/projects?page=2&amp;per_page=1"`) {
		t.Errorf("the next page does not keep per_page:\n%s", body)
	}
	_, body = b.get("/projects?q=no-such-project")
	if !strings.Contains(body, "No project matches") {
		t.Error("an empty search does not say so")
	}
	b.wantStatus(http.StatusBadRequest, "/projects?per_page=100000") // per_page out of range
}

// TestTicketFormURLsAndTableFragment: a GET of a form's POST URL lands on
// the ticket; the picker's table fragment serves the ticket's project's
// snapshots only, and refuses a malformed snapshot.
func TestTicketFormURLsAndTableFragment(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	res, _ := op.get(loc + "/prepare")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != loc {
		t.Fatalf("GET of the form URL: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := op.get(fmt.Sprintf("%s/tables?snapshot=%d", loc, p.snaps[0].ID))
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-snapshot="`+fmt.Sprint(p.snaps[0].ID)+`"`) || strings.Contains(body, "<html") {
		t.Fatalf("table fragment: %d %s", res.StatusCode, body)
	}
	if res, _ := op.get(fmt.Sprintf("%s/tables?snapshot=%d", loc, p.bravo[0].ID)); res.StatusCode != http.StatusNotFound {
		t.Errorf("another project's snapshot: %d", res.StatusCode)
	}
	op.wantStatus(http.StatusBadRequest, loc+"/tables?snapshot=1%20OR%201=1") // a malformed snapshot
	// A refused form's page names its canonical address.
	res, body = op.post(loc+"/prepare", map[string][]string{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"tables"}, "mode": {"destructive"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-canonical="`+loc+`"`) ||
		!strings.Contains(body, `id="err-scope"`) || !strings.Contains(body, `aria-invalid="true"`) {
		t.Errorf("refused triage: %d %v %v %v", res.StatusCode, strings.Contains(body, `data-canonical="`+loc+`"`), strings.Contains(body, `id="err-scope"`), strings.Contains(body, `aria-invalid="true"`))
	}
}

// TestAuditPageChangesAndCSV: the audit page says what each event changed,
// field by field, with user names instead of ids; it filters by actor,
// ticket and kind; the CSV export holds the same lines.
func TestAuditPageChangesAndCSV(t *testing.T) {
	t.Parallel()
	p, op, loc := newTicketBy(t, "operator@example.com")
	if res, _ := op.post(loc+"/prepare", map[string][]string{"snapshot_id": {fmt.Sprint(p.snaps[2].ID)}, "scope_kind": {"full"}, "mode": {"destructive"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("prepare: %d", res.StatusCode)
	}
	id := strings.TrimPrefix(loc, "/tickets/")
	viewer := p.login(t, "viewer@example.com")
	_, body := viewer.get("/audit?ticket=" + id)
	if missing := lacking(body, "state: new → ready", "prepared by: (none) → operator@example.com", "ticket.prepared", "ticket.created"); len(missing) > 0 {
		t.Errorf("audit page lacks %q", missing)
	}
	if strings.Contains(body, fmt.Sprintf(`"prepared_by":%d`, p.users["operator"].ID)) {
		t.Error("raw JSON with user ids on the audit page")
	}
	_, body = viewer.get("/audit?actor=viewer@example.com")
	if strings.Contains(body, "ticket.created") || !strings.Contains(body, "user.login") {
		t.Error("the actor filter does not filter")
	}
	_, body = viewer.get("/audit?actor=nobody@example.com")
	if !strings.Contains(body, `id="audit-empty"`) {
		t.Error("an empty audit search does not say so")
	}
	res, body := viewer.get("/audit?format=csv&ticket=" + id)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(body, "time_utc,actor,address,action,ticket,changes\n") || !strings.Contains(body, "state: new → ready") ||
		strings.Count(body, "\n") != 3 {
		t.Errorf("CSV: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
}
