package tickets_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/tickets"
)

var undeleteOrders = tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.orders"}}

// TestUndeleteModeRules: undelete is tables scope only (full scope is
// refused with the reason), needs an approver who types the ref (an
// operator cannot start it), and its limit takes only offered operators,
// one of the scope's tables, keys or a filter; an operator the form does not
// offer (SQL in the op field) is refused.
func TestUndeleteModeRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.newTicket(t, "proj-alpha", tickets.ModeUndelete)
	prep := func(scope tickets.Scope, o tickets.Options) error {
		_, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.snaps[2].ID, Mode: tickets.ModeUndelete, Scope: scope, Options: o})
		return err
	}
	var ve *tickets.ValidationError
	if err := prep(tickets.Scope{Kind: tickets.ScopeFull}, tickets.Options{}); !errors.As(err, &ve) || ve.Field != "mode" || !strings.Contains(err.Error(), "choose the tables scope") {
		t.Fatalf("full-scope undelete: %v", err)
	}
	for _, c := range []struct {
		o     tickets.Options
		field string
	}{
		{tickets.Options{Undelete: tickets.UndeleteLimit{Filter: tickets.UndeleteFilter{Column: "id", Op: "= 1 OR 1=1; --", Value: "1"}}}, "undelete_filter_op"},
		{tickets.Options{Undelete: tickets.UndeleteLimit{Filter: tickets.UndeleteFilter{Column: "", Op: "eq", Value: "1"}}}, "undelete_filter_column"},
		{tickets.Options{Undelete: tickets.UndeleteLimit{Table: "public.users", Keys: []string{"1"}}}, "undelete_table"},
		{tickets.Options{Undelete: tickets.UndeleteLimit{Keys: []string{"1"}, Filter: tickets.UndeleteFilter{Column: "id", Op: "eq", Value: "1"}}}, "undelete_keys"},
		{tickets.Options{AllowDangling: true}, "allow_dangling"},
	} {
		if err := prep(undeleteOrders, c.o); !errors.As(err, &ve) || ve.Field != c.field {
			t.Fatalf("options %+v: want a refusal on %s, got %v", c.o, c.field, err)
		}
	}
	// A value with SQL in it is just a value: accepted, bound as a parameter by the worker.
	o := tickets.Options{Undelete: tickets.UndeleteLimit{Filter: tickets.UndeleteFilter{Column: "status", Op: "eq", Value: "x'; DROP TABLE public.orders; --"}}}
	if err := prep(undeleteOrders, o); err != nil {
		t.Fatal(err)
	}
	got, err := tickets.TicketGet(ctx, f.pool, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Options.Undelete.Table != "public.orders" || got.Options.Undelete.Filter.Value != o.Undelete.Filter.Value || !got.Destructive() {
		t.Fatalf("stored limit %+v", got.Options.Undelete)
	}
	if _, err := tickets.Start(ctx, f.pool, f.river, f.operator, tk.ID); err == nil {
		t.Fatal("an operator started an undelete without approval")
	}
	if !strings.Contains(tickets.Preflight(got, f.snaps[2], 0), "No live row is updated or deleted") {
		t.Fatalf("preflight: %s", tickets.Preflight(got, f.snaps[2], 0))
	}
}

// TestUndeleteStaleFormRefused: the approver loaded an undelete limited to
// listed keys; the plan was withdrawn and re-prepared with a filter instead.
// Approving the digest the approver saw is refused and says the limit
// changed; the mode is in the digest too (a destructive plan of the same
// tables is another digest).
func TestUndeleteStaleFormRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.newTicket(t, "proj-alpha", tickets.ModeUndelete)
	keys := tickets.Options{Undelete: tickets.UndeleteLimit{Keys: []string{"5", "6"}}}
	tk, seenPlan := f.submit(t, tk, tickets.Preparation{SnapshotID: f.snaps[2].ID, Mode: tickets.ModeUndelete, Scope: undeleteOrders, Options: keys})
	destructive := tk
	destructive.Mode = tickets.ModeDestructive
	if tickets.PlanOf(destructive, f.snaps[2]).Digest() == seenPlan.Digest() {
		t.Fatal("the mode is not in the digest")
	}
	if _, err := tickets.Withdraw(ctx, f.pool, f.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	filter := tickets.Options{Undelete: tickets.UndeleteLimit{Filter: tickets.UndeleteFilter{Column: "id", Op: "ge", Value: "5"}}}
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.snaps[2].ID, Mode: tickets.ModeUndelete, Scope: undeleteOrders, Options: filter}); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Submit(ctx, f.pool, f.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	_, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: seenPlan.Digest()})
	var pc *tickets.PlanChangedError
	if !errors.As(err, &pc) || !strings.Contains(strings.Join(pc.Changes, "; "), `undelete limited to: public.orders: 2 listed keys (5, 6) -> public.orders: rows where id ≥ "5"`) {
		t.Fatalf("stale undelete approval: %v %+v", err, pc)
	}
	if n := jobCount(t, f.pool, "restore"); n != 0 {
		t.Fatalf("a refused approval queued %d jobs", n)
	}
	if _, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "wrong-ref", PlanDigest: pc.Current.Digest()}); err == nil {
		t.Fatal("approved without the typed ref")
	}
	got, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: pc.Current.Digest()})
	if err != nil || got.State != tickets.StateQueued {
		t.Fatalf("approval of the current undelete: %v %s", err, got.State)
	}
}
