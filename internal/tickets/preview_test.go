package tickets_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// previewFixture is proj-alpha with a live database on the project cluster
// holding public.orders (333 rows), public.customers (25) and a table the
// snapshots do not have (public.extra, 4).
func previewFixture(t *testing.T) (fixture, *cluster.Cluster, *pgx.Conn, string) {
	t.Helper()
	ctx := context.Background()
	f := setup(t)
	live := testenv.NewOwnedDatabase(t)
	if _, err := f.pool.Exec(ctx, `UPDATE projects SET database_name = $1 WHERE ref = 'proj-alpha'`, live.Name); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, live.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `CREATE SCHEMA auth;
		CREATE TABLE public.orders (id bigint PRIMARY KEY, note text);
		INSERT INTO public.orders SELECT g, 'order ' || g FROM generate_series(1, 333) g;
		CREATE TABLE public.customers (id int PRIMARY KEY);
		INSERT INTO public.customers SELECT generate_series(1, 25);
		CREATE TABLE public.extra (x int);
		INSERT INTO public.extra VALUES (1), (2), (3), (4);
		ANALYZE`); err != nil {
		t.Fatal(err)
	}
	cl, err := cluster.New(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return f, cl, conn, live.Name
}

func (f fixture) preparedTables(t *testing.T, snap tickets.Snapshot, tables ...string) tickets.Ticket {
	t.Helper()
	tk := f.newTicket(t, "proj-alpha", tickets.ModeDestructive)
	tk, err := tickets.Prepare(context.Background(), f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: snap.ID,
		Scope: tickets.Scope{Kind: tickets.ScopeTables, Tables: tables}, Mode: tickets.ModeDestructive})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func countOf(t *testing.T, conn *pgx.Conn, table string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPreviewMatchesCountStar: the live numbers are count(*) of the live
// tables, the snapshot's are its inventory's, and the words say what a
// destructive tables restore replaces.
func TestPreviewMatchesCountStar(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, cl, conn, liveDB := previewFixture(t)
	snap := f.snaps[2] // verified: orders 360 rows, customers 40
	tk := f.preparedTables(t, snap, "public.orders", "public.customers")
	// A write after ANALYZE: the count is exact, not the estimate.
	if _, err := conn.Exec(ctx, `DELETE FROM public.orders WHERE id <= 10`); err != nil {
		t.Fatal(err)
	}
	now := snap.TakenAt.Add(29 * time.Hour)
	p, err := tickets.BuildPreview(ctx, f.pool, cl, tk, tickets.PreviewOptions{Now: now, KeepFor: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if p.LiveError != "" || p.LiveDatabase != liveDB || len(p.Tables) != 2 {
		t.Fatalf("preview: %+v", p)
	}
	want := map[string][2]int64{"public.orders": {countOf(t, conn, "public.orders"), 360}, "public.customers": {countOf(t, conn, "public.customers"), 40}}
	for _, tb := range p.Tables {
		w := want[tb.Name]
		if !tb.LiveExact || tb.LiveRows != w[0] || tb.SnapshotRows != w[1] || tb.Delta != w[1]-w[0] || tb.LiveBytes <= 0 || tb.SnapshotBytes != w[1]*50 {
			t.Errorf("%s: %+v, want live %d snapshot %d", tb.Name, tb, w[0], w[1])
		}
	}
	if p.Tables[0].LiveRows != 323 {
		t.Errorf("orders live rows %d, want 323", p.Tables[0].LiveRows)
	}
	when := snap.TakenAt.UTC().Format("2006-01-02 15:04 UTC")
	wantLoss := fmt.Sprintf("Everything written to public.orders after %s, 29 hours ago, will be replaced.", when)
	if len(p.LossWindow) != 2 || p.LossWindow[0] != wantLoss {
		t.Errorf("loss window %q, want first %q", p.LossWindow, wantLoss)
	}
	if !strings.Contains(p.Safety, "safety snapshot") || !strings.Contains(p.Safety, "public.orders, public.customers") || !strings.Contains(p.Safety, "7 days") {
		t.Errorf("safety: %q", p.Safety)
	}
	if !strings.Contains(p.Connections, "not cut") {
		t.Errorf("connections: %q", p.Connections)
	}
	// The newest snapshot (f.snaps[3]) is newer than the ticket's: skipped, with why.
	if len(p.Skipped) != 1 || !strings.Contains(p.Skipped[0], fmt.Sprintf("snapshot %d ", f.snaps[3].ID)) {
		t.Errorf("skipped: %q", p.Skipped)
	}
	if p.Estimate.Restores != 0 || !strings.Contains(p.Estimate.Basis, "assuming") ||
		p.Estimate.Seconds != float64(snap.SizeBytes)/tickets.DefaultRestoreBytesPerSecond {
		t.Errorf("estimate without history: %+v", p.Estimate)
	}
}

// TestPreviewAboutAboveExactLimit: a table the planner estimates above
// PORTAL_PREVIEW_EXACT_ROWS shows the estimate, labelled "about".
func TestPreviewAboutAboveExactLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, cl, _, _ := previewFixture(t)
	tk := f.preparedTables(t, f.snaps[2], "public.orders", "public.customers")
	p, err := tickets.BuildPreview(ctx, f.pool, cl, tk, tickets.PreviewOptions{ExactRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	o, c := p.Tables[0], p.Tables[1]
	if o.Name != "public.orders" || o.LiveExact || o.LiveRows != 333 || o.LiveText() != "about 333" || o.DeltaText() != "about +27" {
		t.Errorf("orders: %+v %q %q", o, o.LiveText(), o.DeltaText())
	}
	if !c.LiveExact || c.LiveRows != 25 || c.LiveText() != "25" {
		t.Errorf("customers: %+v", c)
	}
}

// TestPreviewFullScopeAndHistory: a full destructive restore lists the live
// tables the snapshot lacks (they are gone afterwards), says connections are
// cut, and estimates from this installation's past restores of its kind.
func TestPreviewFullScopeAndHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, cl, conn, _ := previewFixture(t)
	tk := f.newTicket(t, "proj-alpha", tickets.ModeDestructive)
	tk, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.snaps[3].ID,
		Scope: tickets.Scope{Kind: tickets.ScopeFull}, Mode: tickets.ModeDestructive})
	if err != nil {
		t.Fatal(err)
	}
	// A past full destructive restore of 1000 bytes whose steps took 2s + 2s.
	past := f.newTicket(t, "proj-bravo", tickets.ModeDestructive)
	if _, err := f.pool.Exec(ctx, `UPDATE tickets SET snapshot_id = $2, result = '{"ok": true, "steps": [{"step": "apply", "seconds": 2}, {"step": "verify", "seconds": 2}]}'
		WHERE id = $1`, past.ID, f.bravo[0].ID); err != nil {
		t.Fatal(err)
	}
	p, err := tickets.BuildPreview(ctx, f.pool, cl, tk, tickets.PreviewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]tickets.PreviewTable{}
	for _, tb := range p.Tables {
		names[tb.Name] = tb
	}
	if x := names["public.extra"]; !x.SnapshotMissing || x.LiveRows != countOf(t, conn, "public.extra") || x.Delta != -4 {
		t.Errorf("extra: %+v", x)
	}
	if u := names["auth.users"]; !u.LiveMissing || u.SnapshotRows != 7 {
		t.Errorf("auth.users: %+v", u)
	}
	if len(p.LossWindow) != 1 || !strings.Contains(p.LossWindow[0], "every table") {
		t.Errorf("loss window: %q", p.LossWindow)
	}
	if !strings.Contains(p.Connections, "Connections will be cut") {
		t.Errorf("connections: %q", p.Connections)
	}
	if len(p.Skipped) != 0 {
		t.Errorf("the newest snapshot skips nothing: %q", p.Skipped)
	}
	e := p.Estimate
	if e.Kind != "full_destructive" || e.Restores != 1 || e.BytesPerSecond != 250 || e.Seconds != float64(f.snaps[3].SizeBytes)/250 {
		t.Errorf("estimate: %+v", e)
	}
}

// TestPreviewWithoutCluster shows the snapshot's side and says why the live
// side is missing; a ticket without a snapshot has no preview.
func TestPreviewWithoutCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.preparedTables(t, f.snaps[2], "public.orders")
	p, err := tickets.BuildPreview(ctx, f.pool, nil, tk, tickets.PreviewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.LiveError == "" || len(p.Tables) != 1 || p.Tables[0].SnapshotRows != 360 {
		t.Errorf("preview: %+v", p)
	}
	if _, err := tickets.BuildPreview(ctx, f.pool, nil, tickets.Ticket{ID: 1}, tickets.PreviewOptions{}); err != tickets.ErrNoPreview {
		t.Errorf("no snapshot: %v", err)
	}
}

func TestFormatAgo(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		30 * time.Second: "just now", 90 * time.Second: "1 minute ago", 12 * time.Minute: "12 minutes ago",
		29 * time.Hour: "29 hours ago", 71 * time.Hour: "71 hours ago", 80 * time.Hour: "3 days ago", -time.Hour: "in the future",
	} {
		if got := tickets.FormatAgo(d); got != want {
			t.Errorf("FormatAgo(%s) = %q, want %q", d, got, want)
		}
	}
	if got := tickets.FormatCount(-1234567); got != "-1,234,567" {
		t.Errorf("FormatCount: %q", got)
	}
}
