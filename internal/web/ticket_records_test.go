package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

// succeededTicketPage is a portal with a succeeded full restore ticket and a
// function that returns its page as an operator sees it: the records a
// restore leaves (cut-over, steps, safety snapshot) are shown there.
func succeededTicketPage(t *testing.T) (*portal, tickets.Ticket, func() string) {
	t.Helper()
	p := newPortal(t)
	tk := p.succeededFull(t)
	op := p.login(t, "operator@example.com")
	return p, tk, func() string {
		t.Helper()
		_, body := op.get(fmt.Sprintf("/tickets/%d", tk.ID))
		return body
	}
}

// TestTicketShowsItsCutoverRecord: an open cut-over record is on the ticket
// page with the session holding the block; once settled, how it ended.
func TestTicketShowsItsCutoverRecord(t *testing.T) {
	t.Parallel()
	p, tk, page := succeededTicketPage(t)
	ctx := context.Background()
	if err := tickets.CutoverBegin(ctx, p.pool, tickets.Cutover{TicketID: tk.ID, Op: tickets.CutoverRestore, Cluster: "default",
		LiveDatabase: "alpha", Incoming: "alpha_stg", Outgoing: "alpha_pre", BackendPID: 4242, BackendStart: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if body := page(); !strings.Contains(body, `id="cutover-open"`) || !strings.Contains(body, "session 4242") {
		t.Fatalf("the open cut-over is not on the ticket:\n%s", body)
	}
	if err := tickets.CutoverEnd(ctx, p.pool, tk.ID, tickets.CutoverRestore, tickets.CutoverUndone, "its worker died before the commit"); err != nil {
		t.Fatal(err)
	}
	if body := page(); !strings.Contains(body, `id="cutover-undone"`) || !strings.Contains(body, "its worker died before the commit") {
		t.Fatalf("the settled cut-over is not on the ticket:\n%s", body)
	}
}

// TestTicketShowsItsStepLog: the steps a restore's attempts recorded are on
// the ticket page, with what each made and moved; a step whose attempt died
// says it did not finish.
func TestTicketShowsItsStepLog(t *testing.T) {
	t.Parallel()
	p, tk, page := succeededTicketPage(t)
	ctx := context.Background()
	killed, err := tickets.StepStart(ctx, p.pool, tk.ID, tickets.StepOpRestore, 1, "apply")
	if err != nil {
		t.Fatal(err)
	}
	done, err := tickets.StepStart(ctx, p.pool, tk.ID, tickets.StepOpRestore, 2, "safety snapshot")
	if err != nil {
		t.Fatal(err)
	}
	n := int64(3 << 20)
	if err := tickets.StepFinish(ctx, p.pool, done, []string{"daily/alpha/safety.sql.gz"}, &n); err != nil {
		t.Fatal(err)
	}
	if err := tickets.StepFinish(ctx, p.pool, done, nil, nil); err == nil {
		t.Fatal("a step was finished twice")
	}
	body := page()
	for _, want := range []string{`id="steps"`, "not finished (its attempt stopped)", "daily/alpha/safety.sql.gz", "3.0 MiB", "restore 2"} {
		if !strings.Contains(body, want) {
			t.Fatalf("ticket page lacks %q (step %d unfinished):\n%s", want, killed, body)
		}
	}
}

// TestTicketShowsItsSafetySnapshotRetention: a restore's safety snapshot is
// on its ticket with the time its own retention deletes it, and once
// deleted the page says so.
func TestTicketShowsItsSafetySnapshotRetention(t *testing.T) {
	t.Parallel()
	p, tk, page := succeededTicketPage(t)
	ctx := context.Background()
	safety := p.snaps[1]
	if err := tickets.SafetySnapshotRecord(ctx, p.pool, tk.ID, safety.ID); err != nil {
		t.Fatal(err)
	}
	shown, ok, err := tickets.SafetySnapshotShow(ctx, p.pool, tk.ID)
	if err != nil || !ok {
		t.Fatalf("safety snapshot of the ticket: %v %v", ok, err)
	}
	until := templates.FormatTime(shown.RecordedAt.Add(7 * 24 * time.Hour)) // PORTAL_SAFETY_KEEP_FOR defaults to PORTAL_KEEP_FOR
	body := page()
	if !strings.Contains(body, `id="safety-snapshot"`) || !strings.Contains(body, `<span id="safety-until">`+until+`</span>`) {
		t.Fatalf("the ticket does not show its safety snapshot kept until %s:\n%s", until, body)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE snapshots SET deleted_at = now(), deleted_reason = 'safety retention' WHERE id = $1`, safety.ID); err != nil {
		t.Fatal(err)
	}
	if body = page(); !strings.Contains(body, "was deleted") || !strings.Contains(body, "safety retention") {
		t.Fatalf("the ticket does not say its safety snapshot was deleted:\n%s", body)
	}
}
