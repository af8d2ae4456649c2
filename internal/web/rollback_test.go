package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// succeededFull makes a full destructive restore of proj-alpha that
// succeeded, as the worker would record it, with its job ended.
func (p *portal) succeededFull(t *testing.T) tickets.Ticket {
	t.Helper()
	ctx := context.Background()
	rc, err := river.NewClient(riverpgxv5.New(p.pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cat := tickets.SnapshotCatalog(p.pool)
	op := tickets.UserActor(p.users[auth.RoleOperator], "test")
	tk, err := tickets.Create(ctx, p.pool, cat, op, tickets.NewTicket{Source: tickets.SourcePortal, ProjectRef: "proj-alpha",
		RequesterEmail: "c@example.com", Mode: tickets.ModeDestructive, Note: "restore"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Prepare(ctx, p.pool, cat, op, tk.ID, tickets.Preparation{SnapshotID: p.snaps[0].ID, Scope: tickets.Scope{Kind: tickets.ScopeFull}, Mode: tickets.ModeDestructive}); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Submit(ctx, p.pool, op, tk.ID); err != nil {
		t.Fatal(err)
	}
	if tk, err = tickets.Approve(ctx, p.pool, rc, tickets.UserActor(p.users[auth.RoleApprover], "test"), tk.ID, "proj-alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.MarkRunning(ctx, p.pool, tk.ID, tk.JobID); err != nil {
		t.Fatal(err)
	}
	keep := time.Now().Add(7 * 24 * time.Hour)
	if tk, err = tickets.Finish(ctx, p.pool, tk.ID, tickets.Result{OK: true, Message: "done", TargetDatabase: "alpha",
		KeptDatabase: cluster.KeptName("alpha", tk.ID), KeptUntil: &keep}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1`, tk.JobID); err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestRollbackFormSaysWhatIsKeptAside: the rollback confirmation of a full
// restore names the database the restored one will be kept as and until
// when; while a newer restore of the project stands, the older ticket offers
// no rollback form and names the ticket to roll back first.
func TestRollbackFormSaysWhatIsKeptAside(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	older := p.succeededFull(t)
	ap := p.login(t, p.second.Email)

	res, body := ap.get(fmt.Sprintf("/tickets/%d", older.ID))
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="rollback-form"`) || !strings.Contains(body, `id="rollback-preview"`) {
		t.Fatalf("ticket page %d: no rollback form with its preview:\n%s", res.StatusCode, body)
	}
	aside := cluster.RollbackAsideName("alpha", older.ID)
	want := fmt.Sprintf("will be kept as %s until %s", aside, time.Now().Add(7*24*time.Hour).UTC().Format("2006-01-02"))
	if !strings.Contains(body, want) {
		t.Fatalf("the rollback form does not say %q:\n%s", want, body)
	}

	newer := p.succeededFull(t)
	_, body = ap.get(fmt.Sprintf("/tickets/%d", older.ID))
	if strings.Contains(body, `id="rollback-form"`) || !strings.Contains(body, fmt.Sprintf("roll back ticket #%d first", newer.ID)) {
		t.Fatalf("the older ticket offers a rollback while ticket %d stands:\n%s", newer.ID, body)
	}
	if _, body = ap.get(fmt.Sprintf("/tickets/%d", newer.ID)); !strings.Contains(body, `id="rollback-form"`) {
		t.Fatalf("the newest restore offers no rollback:\n%s", body)
	}
}
