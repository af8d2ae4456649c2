package jobs_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// addBulk gives the live database a table of about 11 MB, so that a tables
// restore of another table has table data worth skipping.
func (h *harness) addBulk() {
	h.t.Helper()
	h.exec(`CREATE TABLE public.bulk AS
		SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS body FROM generate_series(1, 150000) g`)
}

// threadHas reports whether the ticket's thread has a system entry with subject.
func (h *harness) threadHas(id int64, subject string) bool {
	h.t.Helper()
	es, err := tickets.EntryListByTicket(context.Background(), h.pool, id)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range es {
		if e.Kind == tickets.EntrySystem && e.Subject == subject {
			return true
		}
	}
	return false
}

// TestTablesRestoreThroughTheAccessIndex: a tables restore of a verified
// snapshot reads only ranges through the access index (noted on the ticket) and
// the restored table equals pg_dump -t of the source, in both modes; with the
// index gone the same restore reads the whole snapshot, says so, and gives the
// same table.
func TestTablesRestoreThroughTheAccessIndex(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addBulk()
	h.startRiver()
	snap := h.capture()
	want := stripFK(h.dump(h.db, "public.orders"))
	ordersAtSnapshot := h.tableDigest("public.orders")
	h.change(2)
	scope := ordersScope

	newProject := func(what, note string) tickets.Ticket {
		t.Helper()
		tk := h.restore(snap, scope, tickets.ModeNewProject, tickets.Options{})
		wantState(t, tk, tickets.StateSucceeded, what+": restore")
		if got := h.dump(tk.Result.TargetDatabase, "public.orders"); got != want {
			t.Fatalf("%s: restored public.orders differs from pg_dump -t of the source:\n%s", what, testenv.DiffLines(want, got))
		}
		if !h.threadHas(tk.ID, note) {
			t.Fatalf("%s: no %q entry on the ticket", what, note)
		}
		return tk
	}
	ranged := newProject("with the index", "ranged read of the snapshot")
	// The apply step's bytes are the ranges read, not the object: the first
	// range's reader is closed early and then says it read everything.
	steps, err := tickets.StepsOf(context.Background(), h.pool, ranged.ID)
	if err != nil {
		t.Fatal(err)
	}
	applied := false
	for _, st := range steps {
		if st.Step == "apply" && st.Bytes != nil {
			applied = true
			if *st.Bytes <= 0 || *st.Bytes*2 > snap.Size {
				t.Errorf("the ranged apply step read %d of the %d-byte snapshot (the bulk table's data is skipped)", *st.Bytes, snap.Size)
			}
		}
	}
	if !applied {
		t.Error("no bytes recorded for the apply step")
	}

	tk := h.restore(snap, scope, tickets.ModeDestructive, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "destructive: restore")
	if h.tableDigest("public.orders") != ordersAtSnapshot || !h.threadHas(tk.ID, "ranged read of the snapshot") {
		t.Fatal("destructive: public.orders does not hold the snapshot's rows, or the read was not ranged")
	}

	d := snapshots.NewDeps(h.cfg, h.pool, h.deps.S3, h.deps.Log)
	bucket, key := d.IndexLocation(snap.Key, snap.ETag)
	if _, err := h.deps.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	newProject("without the index", "full read of the snapshot")
}
