package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/tickets"
)

func (h *harness) safetySnapshots() int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM snapshots WHERE project_ref = $1 AND kind = 'manual'`, h.ref).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestTruncatedObjectIsRefusedBeforeTheSafetySnapshot cuts the verified
// object short: a destructive restore is refused by the cheap checks, with
// the sizes named, before it takes a safety snapshot or makes a database.
func TestTruncatedObjectIsRefusedBeforeTheSafetySnapshot(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap := h.capture()
	ctx := context.Background()
	obj, err := h.deps.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &snap.Key})
	if err != nil {
		t.Fatal(err)
	}
	whole := readAllFrom(t, obj.Body, nil)
	if _, err := h.deps.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &snap.Key, Body: strings.NewReader(string(whole[:len(whole)-40]))}); err != nil {
		t.Fatal(err)
	}
	before := h.checksum(h.db)
	tk := h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "the verified snapshot has "+itoa(snap.Size)) {
		t.Fatalf("restore of a cut object: %s %+v", tk.State, tk.Result)
	}
	if n := h.safetySnapshots(); n != 0 {
		t.Fatalf("%d safety snapshots taken before the refusal", n)
	}
	if h.checksum(h.db) != before || len(h.activeRecords(tk.ID)) != 0 {
		t.Fatal("a refused restore changed something")
	}
}

// TestRowCountsMustMatchTheVerifiedInventory makes the catalog's inventory
// disagree with the object (as a substituted dump would): the restore fails
// after the apply, before the cut-over, naming the table and both counts,
// and the live database is unchanged.
func TestRowCountsMustMatchTheVerifiedInventory(t *testing.T) {
	t.Parallel()
	h, snap, before := newChangedHarness(t)
	var rows int64
	if err := h.pool.QueryRow(context.Background(), `UPDATE snapshot_tables SET rows = rows + 100
		WHERE snapshot_id = $1 AND schema_name = 'public' AND table_name = 'orders' RETURNING rows`, snap.ID).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []tickets.Mode{tickets.ModeDestructive, tickets.ModeNewProject} {
		tk := h.restore(snap, full, mode, tickets.Options{})
		want := "public.orders: " + itoa(rows-100) + " rows restored, the verified snapshot has " + itoa(rows)
		if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, want) {
			t.Fatalf("%s restore with other row counts: %s %+v", mode, tk.State, tk.Result)
		}
		if h.checksum(h.db) != before {
			t.Fatalf("%s restore changed the live database", mode)
		}
		if left := h.activeRecords(tk.ID); len(left) != 0 {
			t.Fatalf("%s restore left %v", mode, left)
		}
	}
}
