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

// TestTicketShowsItsSafetySnapshotRetention: a restore's safety snapshot is
// on its ticket with the time its own retention deletes it, and once
// deleted the page says so.
func TestTicketShowsItsSafetySnapshotRetention(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	tk := p.succeededFull(t)
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
	op := p.login(t, "operator@example.com")
	_, body := op.get(fmt.Sprintf("/tickets/%d", tk.ID))
	if !strings.Contains(body, `id="safety-snapshot"`) || !strings.Contains(body, `<span id="safety-until">`+until+`</span>`) {
		t.Fatalf("the ticket does not show its safety snapshot kept until %s:\n%s", until, body)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE snapshots SET deleted_at = now(), deleted_reason = 'safety retention' WHERE id = $1`, safety.ID); err != nil {
		t.Fatal(err)
	}
	if _, body = op.get(fmt.Sprintf("/tickets/%d", tk.ID)); !strings.Contains(body, "was deleted") || !strings.Contains(body, "safety retention") {
		t.Fatalf("the ticket does not say its safety snapshot was deleted:\n%s", body)
	}
}
