package jobs_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

var ordersScope = tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.orders"}}

// liveInts reads a column of int64 from the live database.
func liveInts(h *harness, sql string, args ...any) []int64 {
	h.t.Helper()
	var v []int64
	h.onDB(h.db, func(ctx context.Context, conn *pgx.Conn) (err error) {
		v, err = column[int64](ctx, conn, sql, args...)
		return err
	})
	return v
}

// undeleteFixture grows public.orders to 100,000 rows, captures the
// snapshot, then deletes 1,000 of them and changes 50 (and writes 10 new
// ones) in the live database. It returns the snapshot, the deleted keys
// and the changed ones.
func undeleteFixture(h *harness) (snap snapshots.Snapshot, deleted, changed []int64) {
	h.t.Helper()
	h.exec(`INSERT INTO public.orders (user_id, status, total, tags, details)
		SELECT (SELECT min(id) FROM auth.users), 'paid', g % 1000, ARRAY['bulk'], jsonb_build_object('g', g)
		FROM generate_series(1, 100000 - (SELECT count(*) FROM public.orders)) g`)
	if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM public.orders`); n != 100000 {
		h.t.Fatalf("fixture: %d orders", n)
	}
	snap = h.capture()
	deleted = liveInts(h, `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) rn FROM public.orders) x WHERE rn % 100 = 0 ORDER BY id`)
	changed = liveInts(h, `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) rn FROM public.orders) x WHERE rn % 100 = 1 AND rn <= 5000 ORDER BY id`)
	h.exec(`DELETE FROM public.orders WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) rn FROM public.orders) x WHERE rn % 100 = 0)`)
	h.exec(`UPDATE public.orders SET tags = ARRAY['changed live'] WHERE id IN (` + joinInts(changed) + `)`)
	h.exec(`INSERT INTO public.orders (user_id, status, total, tags) SELECT (SELECT min(id) FROM auth.users), 'paid', 1, ARRAY['new since'] FROM generate_series(1, 10)`)
	if len(deleted) != 1000 || len(changed) != 50 {
		h.t.Fatalf("fixture: %d deleted, %d changed", len(deleted), len(changed))
	}
	return snap, deleted, changed
}

// deleteOrders captures a snapshot, then deletes live's n lowest orders and
// returns the snapshot and their ids.
func deleteOrders(h *harness, n int) (snapshots.Snapshot, []int64) {
	h.t.Helper()
	snap := h.capture()
	gone := liveInts(h, `SELECT id FROM public.orders ORDER BY id LIMIT `+strconv.Itoa(n))
	h.exec(`DELETE FROM public.orders WHERE id IN (` + joinInts(gone) + `)`)
	return snap, gone
}

// undeleteRecord reads the state and recorded transaction id of the
// ticket's undelete merge.
func (h *harness) undeleteRecord(id int64) (state string, xid *int64, err error) {
	err = h.pool.QueryRow(context.Background(), `SELECT state, xid FROM ticket_undeletes WHERE ticket_id = $1 AND op = 'restore'`, id).Scan(&state, &xid)
	return state, xid, err
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = itoa(n)
	}
	return strings.Join(s, ",")
}

// TestUndeleteInsertsExactlyTheMissingRowsAndRollsThemBack: an undelete of
// public.orders (100,000 rows in the snapshot; 1,000 deleted and 50 changed
// live since, 10 written) through the real worker, approved by a second
// person, inserts exactly the 1,000, reports the 50 conflicts with samples
// and leaves them (and the new rows) as they are; the keys are recorded; the
// rollback deletes exactly the 1,000.
func TestUndeleteInsertsExactlyTheMissingRowsAndRollsThemBack(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	ctx := context.Background()
	snap, deleted, changed := undeleteFixture(h)

	tk := h.restore(snap, ordersScope, tickets.ModeUndelete, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "undelete")
	if len(tk.Result.Undelete) != 1 {
		t.Fatalf("result: %+v", tk.Result)
	}
	u := tk.Result.Undelete[0]
	if u.Table != "public.orders" || u.Inserted != 1000 || u.Conflicts != 50 || u.Unchanged != 100000-1050 || len(u.ConflictSamples) != 20 ||
		u.ConflictSamples[0] != "id="+itoa(changed[0]) {
		t.Fatalf("undelete report %+v", u)
	}
	if !strings.Contains(tk.Result.Message, "1,000 rows inserted, 50 conflicts") {
		t.Fatalf("message: %s", tk.Result.Message)
	}
	if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM public.orders`); n != 100010 {
		t.Fatalf("orders after the undelete: %d, want 100010", n)
	}
	if got := liveInts(h, `SELECT id FROM public.orders WHERE id = ANY($1) ORDER BY id`, deleted); !slices.Equal(got, deleted) {
		t.Fatalf("%d of the 1000 deleted rows are back", len(got))
	}
	if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM public.orders WHERE tags = ARRAY['changed live']`); n != 50 {
		t.Fatalf("changed rows overwritten: %d keep their live content", n)
	}
	var state string
	var xid *int64
	var nkeys int
	if err := h.pool.QueryRow(ctx, `SELECT u.state, u.xid, jsonb_array_length(k.keys) FROM ticket_undeletes u JOIN ticket_undelete_keys k USING (ticket_id)
		WHERE u.ticket_id = $1 AND u.op = 'restore'`, tk.ID).Scan(&state, &xid, &nkeys); err != nil || state != "committed" || xid == nil || nkeys != 1000 {
		t.Fatalf("record: %s xid %v keys %d %v", state, xid, nkeys, err)
	}
	if h.databaseExists(h.db + "_stg_t" + itoa(tk.ID)) {
		t.Fatal("the staging database was left behind")
	}

	h.exec(`UPDATE public.orders SET tags = ARRAY['edited after the undelete'] WHERE id = ` + itoa(deleted[3]))
	tk = h.rollback(tk.ID)
	wantState(t, tk, tickets.StateRolledBack, "rollback")
	if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM public.orders`); n != 99010 {
		t.Fatalf("orders after the rollback: %d, want 99010", n)
	}
	if got := liveInts(h, `SELECT id FROM public.orders WHERE id = ANY($1)`, deleted); len(got) != 0 {
		t.Fatalf("%d undeleted rows left after the rollback", len(got))
	}
	if !strings.Contains(tk.Result.RollbackSummary, "public.orders: 1,000 undeleted rows deleted, 1 of them had been changed since") {
		t.Fatalf("rollback summary: %q", tk.Result.RollbackSummary)
	}
}

// TestUndeleteRollbackRefusesWhereNewRowsReferenceThem: a document written
// after the undelete points at an undeleted object; the rollback refuses,
// naming both, and changes nothing.
func TestUndeleteRollbackRefusesWhereNewRowsReferenceThem(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap := h.capture()
	gone := liveInts(h, `SELECT id FROM storage.objects ORDER BY id LIMIT 3`)
	h.exec(`DELETE FROM ai.documents WHERE object_id IN (` + joinInts(gone) + `); DELETE FROM storage.objects WHERE id IN (` + joinInts(gone) + `)`)
	scope := tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"storage.objects"}}
	tk := h.restore(snap, scope, tickets.ModeUndelete, tickets.Options{})
	if tk.State != tickets.StateSucceeded || tk.Result.Undelete[0].Inserted != 3 {
		t.Fatalf("undelete %s: %+v", tk.State, tk.Result)
	}
	doc := liveQuery[int64](h, h.db, `INSERT INTO ai.documents (object_id, title) VALUES (`+itoa(gone[1])+`, 'new') RETURNING id`)
	before := h.checksum(h.db)
	tk = h.rollback(tk.ID)
	want := "ai.documents row id=" + itoa(doc) + " references storage.objects id=" + itoa(gone[1])
	if tk.State == tickets.StateRolledBack || !strings.Contains(tk.Result.RollbackError, want) {
		t.Fatalf("want the rollback refused naming %q, got %s %q", want, tk.State, tk.Result.RollbackError)
	}
	h.wantLive(before, "a refused rollback changed the live database")
}

// TestUndeleteWorkerKilledMidMergeLeavesLiveUnchanged kills the real worker
// binary inside the merge's live transaction (rows inserted, transaction id
// and keys recorded, not committed): live is unchanged, the record says
// committing; the next worker asks Postgres (the transaction aborted),
// merges again and finishes with exactly the missing rows.
func TestUndeleteWorkerKilledMidMergeLeavesLiveUnchanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	snap, gone := deleteOrders(h, 25)
	before := h.checksum(h.db)
	start := h.workerBinary()
	tk := h.ticket(snap, ordersScope, tickets.ModeUndelete, tickets.Options{})
	first := start("PORTAL_TEST_PAUSE_AT_STEP=merged")
	deadline := time.Now().Add(3 * time.Minute)
	var state string
	var xid *int64
	for {
		var err error
		state, xid, err = h.undeleteRecord(tk.ID)
		if err == nil && state == "committing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker never reached the merge's commit: %q %v", state, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	kill9(t, first)
	if xid == nil {
		t.Fatal("no transaction id recorded before the commit")
	}
	h.wantLive(before, "live changed although the merge's transaction never committed")
	if xs := liveQuery[*string](h, h.db, `SELECT pg_xact_status($1::text::xid8)`, itoa(*xid)); xs == nil || *xs != "aborted" {
		t.Fatalf("the killed merge's transaction is %v, want aborted", xs)
	}

	start()
	done := h.waitEnded(tk.ID, 4*time.Minute)
	if done.State != tickets.StateSucceeded || done.Result.Undelete[0].Inserted != 25 {
		t.Fatalf("undelete after the kill: %s %+v", done.State, done.Result)
	}
	if got := liveInts(h, `SELECT id FROM public.orders WHERE id = ANY($1) ORDER BY id`, gone); !slices.Equal(got, gone) {
		t.Fatalf("%d of 25 rows back after the retry", len(got))
	}
	state, nxid, err := h.undeleteRecord(tk.ID)
	if err != nil || state != "committed" || nxid == nil || *nxid == *xid {
		t.Fatalf("record after the retry: %s %v (killed xid %d) %v", state, nxid, *xid, err)
	}
}

// TestUndeleteWorkerKilledAfterTheCommitFinishesFromTheRecord kills the
// worker just after the merge committed, before its record says so: the
// next worker asks Postgres about the recorded transaction (committed),
// finishes from the record without merging again, and reports the rows the
// killed attempt inserted.
func TestUndeleteWorkerKilledAfterTheCommitFinishesFromTheRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	snap, gone := deleteOrders(h, 12)
	start := h.workerBinary()
	tk := h.ticket(snap, ordersScope, tickets.ModeUndelete, tickets.Options{})
	first := start("PORTAL_TEST_PAUSE_AT_STEP=cut-over")
	deadline := time.Now().Add(3 * time.Minute)
	var xid *int64
	for {
		state, x, err := h.undeleteRecord(tk.ID)
		xid = x
		if err == nil && state == "committing" && xid != nil {
			if xs := liveQuery[*string](h, h.db, `SELECT pg_xact_status($1::text::xid8)`, itoa(*xid)); xs != nil && *xs == "committed" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker never committed the merge: %q %v", state, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	kill9(t, first)
	if got := liveInts(h, `SELECT id FROM public.orders WHERE id = ANY($1) ORDER BY id`, gone); !slices.Equal(got, gone) {
		t.Fatalf("the committed merge is not live: %d of 12 rows", len(got))
	}
	start()
	done := h.waitEnded(tk.ID, 4*time.Minute)
	if done.State != tickets.StateSucceeded || done.Result.Undelete[0].Inserted != 12 {
		t.Fatalf("undelete after the kill: %s %+v", done.State, done.Result)
	}
	state, nxid, err := h.undeleteRecord(tk.ID)
	if err != nil || state != "committed" || nxid == nil || *nxid != *xid {
		t.Fatalf("record after the retry: %s %v (committed xid %d) %v: want the first merge, not a second one", state, nxid, *xid, err)
	}
}
