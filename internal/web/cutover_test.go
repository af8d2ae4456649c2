package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/tickets"
)

// TestTicketShowsItsCutoverRecord: an open cut-over record is on the ticket
// page with the session holding the block; once settled, how it ended.
func TestTicketShowsItsCutoverRecord(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	tk := p.succeededFull(t)
	ctx := context.Background()
	if err := tickets.CutoverBegin(ctx, p.pool, tickets.Cutover{TicketID: tk.ID, Op: tickets.CutoverRestore, Cluster: "default",
		LiveDatabase: "alpha", Incoming: "alpha_stg", Outgoing: "alpha_pre", BackendPID: 4242, BackendStart: time.Now()}); err != nil {
		t.Fatal(err)
	}
	op := p.login(t, "operator@example.com")
	if _, body := op.get(fmt.Sprintf("/tickets/%d", tk.ID)); !strings.Contains(body, `id="cutover-open"`) || !strings.Contains(body, "session 4242") {
		t.Fatalf("the open cut-over is not on the ticket:\n%s", body)
	}
	if err := tickets.CutoverEnd(ctx, p.pool, tk.ID, tickets.CutoverRestore, tickets.CutoverUndone, "its worker died before the commit"); err != nil {
		t.Fatal(err)
	}
	if _, body := op.get(fmt.Sprintf("/tickets/%d", tk.ID)); !strings.Contains(body, `id="cutover-undone"`) || !strings.Contains(body, "its worker died before the commit") {
		t.Fatalf("the settled cut-over is not on the ticket:\n%s", body)
	}
}
