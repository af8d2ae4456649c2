package jobs_test

import (
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// newWorkingHarness is newHarness with River working the real workers in
// this process (startRiver).
func newWorkingHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.startRiver()
	return h
}

// newChangedHarness is the usual start of a restore test: a harness with
// River working the real workers, a verified snapshot of the project, a day
// of changes since, and live's checksum after them (what a refused restore
// must leave, and a rollback bring back).
func newChangedHarness(t *testing.T) (h *harness, snap snapshots.Snapshot, before string) {
	t.Helper()
	h = newWorkingHarness(t)
	snap, before = h.snapshotThenChange()
	return h, snap, before
}

// snapshotThenChange captures a verified snapshot, makes a day of changes,
// and returns the snapshot and live's checksum after the changes.
func (h *harness) snapshotThenChange() (snapshots.Snapshot, string) {
	h.t.Helper()
	snap := h.capture()
	h.change(2)
	return snap, h.checksum(h.db)
}

// snapshotDumpThenChange captures a verified snapshot and makes a day of
// changes; it returns the snapshot and the dump of live at it (what a full
// restore of it must give back).
func (h *harness) snapshotDumpThenChange() (snapshots.Snapshot, string) {
	h.t.Helper()
	snap := h.capture()
	atSnapshot := h.dump(h.db)
	h.change(2)
	return snap, atSnapshot
}

// restoreInDataPhase queues a full restore of snap in mode and waits until
// it streams its data (the moment the fault tests strike).
func (h *harness) restoreInDataPhase(snap snapshots.Snapshot, mode tickets.Mode) tickets.Ticket {
	h.t.Helper()
	tk := h.ticket(snap, full, mode, tickets.Options{})
	h.wait(tk.ID, 3*time.Minute, inDataPhase)
	return tk
}

// restore queues a restore of snap (h.ticket) and waits for it to end
// (h.waitFinal).
func (h *harness) restore(snap snapshots.Snapshot, scope tickets.Scope, mode tickets.Mode, opts tickets.Options) tickets.Ticket {
	h.t.Helper()
	return h.waitFinal(h.ticket(snap, scope, mode, opts).ID)
}

// wantState fails the test now unless the ticket is in state; what names
// the step for the message.
func wantState(t *testing.T, tk tickets.Ticket, state tickets.State, what string) {
	t.Helper()
	if tk.State != state {
		t.Fatalf("%s: %s %+v", what, tk.State, tk.Result)
	}
}

// waitEnded waits, timeout at most, for the ticket to succeed or fail.
func (h *harness) waitEnded(id int64, timeout time.Duration) tickets.Ticket {
	h.t.Helper()
	return h.wait(id, timeout, func(tk tickets.Ticket) bool {
		return tk.State == tickets.StateSucceeded || tk.State == tickets.StateFailed
	})
}

// wantLiveDump fails the test now unless the live database dumps as want
// (a snapshot's source, say); what names the moment for the message.
func (h *harness) wantLiveDump(want, what string) {
	h.t.Helper()
	if got := h.dump(h.db); got != want {
		h.t.Fatalf("live database %s differs from the snapshot's source:\n%s", what, testenv.DiffLines(want, got))
	}
}

// wantLive fails the test now unless the live database's checksum is still
// before; why says what should have left it alone.
func (h *harness) wantLive(before, why string) {
	h.t.Helper()
	if h.checksum(h.db) != before {
		h.t.Fatal(why)
	}
}

// restoreKind is one of the four kinds of restore: a scope and a mode.
type restoreKind struct {
	name  string
	scope tickets.Scope
	mode  tickets.Mode
}

// everyKind lists the four kinds of restore, the tables ones of tables.
func everyKind(tables tickets.Scope) []restoreKind {
	return []restoreKind{
		{"full_new_project", full, tickets.ModeNewProject},
		{"full_destructive", full, tickets.ModeDestructive},
		{"tables_new_project", tables, tickets.ModeNewProject},
		{"tables_destructive", tables, tickets.ModeDestructive},
	}
}
