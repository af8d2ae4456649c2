package runbook

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// TestResolveSwapAsksTheLiveDatabase: a swap recorded as committing (the
// worker died between the commit and recording it) is resolved from the live
// database's knowledge of its transaction: committed is finished and
// recorded, aborted is redone, in progress is waited for.
func TestResolveSwapAsksTheLiveDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	tickettest.Project(t, pool, "proj-resolve")
	var ticket int64
	if err := pool.QueryRow(ctx, `INSERT INTO tickets (source, requester_email, project_ref) VALUES ('portal', 'a@example.com', 'proj-resolve') RETURNING id`).Scan(&ticket); err != nil {
		t.Fatal(err)
	}
	liveURL := testenv.NewDatabase(t)
	u, _ := url.Parse(liveURL)
	live := strings.TrimPrefix(u.Path, "/")
	cl, err := cluster.New(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, liveURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	xact := func(commit bool) (uint64, pgx.Tx) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var x uint64
		if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&x); err != nil {
			t.Fatal(err)
		}
		return x, tx
	}
	record := func(op string, xid uint64) tableSwap {
		s := tableSwap{TicketID: ticket, Op: op, LiveDatabase: live, KeepDatabase: "k", KeepSchema: "backup", Tables: []string{"public.t"}}
		if err := tableSwapPrepare(ctx, pool, s); err != nil {
			t.Fatal(err)
		}
		if err := tableSwapCommitting(ctx, pool, ticket, op, xid, map[string]int64{"public.t": 3}, map[string]int64{"public.t": 2}); err != nil {
			t.Fatal(err)
		}
		s, err := tableSwapGet(ctx, pool, ticket, op)
		if err != nil || s.State != "committing" {
			t.Fatalf("record: %+v %v", s, err)
		}
		return s
	}

	x, tx := xact(true)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if done, err := resolveSwap(ctx, pool, cl, record("restore", x)); err != nil || !done {
		t.Fatalf("committed transaction: done %t, %v", done, err)
	}
	if s, _ := tableSwapGet(ctx, pool, ticket, "restore"); s.State != "committed" || s.After["public.t"] != 2 {
		t.Fatalf("resolved swap not recorded committed with its counts: %+v", s)
	}
	if err := tableSwapPrepare(ctx, pool, tableSwap{TicketID: ticket, Op: "restore", LiveDatabase: live, KeepDatabase: "k", KeepSchema: "b", Tables: []string{"public.t"}}); err == nil {
		t.Fatal("a committed swap was prepared again")
	}

	x, tx = xact(false)
	rec := record("rollback", x)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = resolveSwap(short, pool, cl, rec)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a transaction in progress: want a wait, got %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if done, err := resolveSwap(ctx, pool, cl, rec); err != nil || done {
		t.Fatalf("aborted transaction: done %t, %v", done, err)
	}
}
