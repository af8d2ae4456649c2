package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/tickets"
)

// TestRollbackWorkerRefusesAnOlderRestore: two full destructive restores of
// one project succeed in turn; a rollback job of the older one that reaches
// the worker anyway (queued by a path that did not check the order) is
// refused at its start, naming the newer ticket, and changes nothing: live
// still holds the newer restore and the older one's kept copy is still there.
func TestRollbackWorkerRefusesAnOlderRestore(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	first := h.capture()
	h.change(2)
	second := h.capture()
	older := h.restore(first, full, tickets.ModeDestructive, tickets.Options{})
	newer := h.restore(second, full, tickets.ModeDestructive, tickets.Options{})
	if older.State != tickets.StateSucceeded || newer.State != tickets.StateSucceeded {
		t.Fatalf("restores: %s %+v; %s %+v", older.State, older.Result, newer.State, newer.Result)
	}
	live := h.checksum(h.db)
	ctx := context.Background()

	if _, err := h.river.Insert(ctx, tickets.RollbackArgs{TicketID: older.ID, ProjectRef: h.ref}, nil); err != nil {
		t.Fatal(err)
	}
	got := h.wait(older.ID, 2*time.Minute, func(tk tickets.Ticket) bool {
		return tk.Result != nil && tk.Result.RollbackError != "" || tk.State == tickets.StateRolledBack
	})
	if got.State != tickets.StateSucceeded || !strings.Contains(got.Result.RollbackError, fmt.Sprintf("roll back ticket #%d first", newer.ID)) {
		t.Fatalf("rollback of the older restore: %s %q", got.State, got.Result.RollbackError)
	}
	h.wantLive(live, "a refused rollback changed live")
	if !h.databaseExists(older.Result.KeptDatabase) {
		t.Fatal("a refused rollback touched the older restore's kept copy")
	}
}
