package runbook

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// The records a dead worker left (a cut-over's, a table swap's) are settled
// from what the live database knows, never from a guess.

// deadWorkerFixture is the portal's pool with project ref on it, the project
// cluster, and newTicket, which adds a ticket of ref and returns its id.
func deadWorkerFixture(t *testing.T, ref string) (pool *pgxpool.Pool, cl *cluster.Cluster, newTicket func() int64) {
	t.Helper()
	pool = testenv.PortalPool(t)
	tickettest.Project(t, pool, ref)
	cl, err := cluster.New(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return pool, cl, func() int64 {
		t.Helper()
		var id int64
		if err := pool.QueryRow(context.Background(), `INSERT INTO tickets (source, requester_email, project_ref) VALUES ('portal', 'a@example.com', $1) RETURNING id`, ref).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
}

// dbName is the database a URL names.
func dbName(u string) string { p, _ := url.Parse(u); return strings.TrimPrefix(p.Path, "/") }

// TestSettleCutoverReadsTheRecord: an open cut-over record left by a dead
// worker is settled from what it names, never from a guess: a recorded
// transaction that committed (the worker died before recording it) is
// committed, one that rolled back is undone, and a cut-over still blocking
// whose session lingers (a lost node) has that session ended and is undone,
// the live database reachable again.
func TestSettleCutoverReadsTheRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, cl, newTicket := deadWorkerFixture(t, "proj-settle")
	d := Deps{Pool: pool, Log: testenv.Logger(t)}
	three := func() (live, incoming, outgoing string) {
		live, incoming = dbName(testenv.NewDatabase(t)), dbName(testenv.NewDatabase(t))
		outgoing = live + "_out"
		t.Cleanup(func() { testenv.DropDatabase(t, outgoing) })
		return live, incoming, outgoing
	}
	// run is a worker's cut-over that records as cutover does and then dies
	// before recording the end: blocked decides whether the commit happens.
	run := func(ticket int64, blocked error) (string, string, string) {
		live, incoming, outgoing := three()
		err := cl.Cutover(ctx, live, incoming, outgoing, cluster.CutoverOptions{
			Begun: func(ctx context.Context, s cluster.CutoverSession) error {
				return tickets.CutoverBegin(ctx, pool, tickets.Cutover{TicketID: ticket, Op: tickets.CutoverRestore, Cluster: "default",
					LiveDatabase: live, Incoming: incoming, Outgoing: outgoing, BackendPID: s.PID, BackendStart: s.BackendStart})
			},
			Blocked: func(ctx context.Context, xid uint64) error {
				if err := tickets.CutoverRecordXID(ctx, pool, ticket, tickets.CutoverRestore, xid); err != nil {
					return err
				}
				return blocked
			},
		})
		if !errors.Is(err, blocked) {
			t.Fatalf("cut-over: %v, want %v", err, blocked)
		}
		return live, incoming, outgoing
	}
	settled := func(ticket int64, want string) tickets.Cutover {
		t.Helper()
		if st, err := settleCutover(ctx, d, cl, ticket, tickets.CutoverRestore, "test"); err != nil || st != want {
			t.Fatalf("settled %q, %v; want %q", st, err, want)
		}
		c, err := tickets.CutoverGet(ctx, pool, ticket, tickets.CutoverRestore)
		if err != nil || c.State != want || c.EndedAt == nil || c.Note == "" {
			t.Fatalf("record after settling: %+v %v", c, err)
		}
		return c
	}

	committed := newTicket()
	live, _, outgoing := run(committed, nil)
	if st, err := cl.State(ctx, live, "", outgoing); err != nil || st != cluster.SwapDone {
		t.Fatalf("the committed cut-over is not on the cluster: %v %v", st, err)
	}
	settled(committed, tickets.CutoverCommitted)

	aborted := newTicket()
	live, incoming, _ := run(aborted, errors.New("injected"))
	if ok, _ := cl.Exists(ctx, incoming); !ok {
		t.Fatal("a rolled back cut-over renamed its incoming database")
	}
	settled(aborted, tickets.CutoverUndone)
	if err := tickets.CutoverBegin(ctx, pool, tickets.Cutover{TicketID: committed, Op: tickets.CutoverRestore, Cluster: "default",
		LiveDatabase: live, Incoming: "x", Outgoing: "y", BackendPID: 1}); !errors.Is(err, tickets.ErrConflict) {
		t.Fatalf("a committed cut-over was begun again: %v", err)
	}

	// A session that lingers, holding live's lock in an open transaction.
	lingering := newTicket()
	live, incoming, outgoing = three()
	admin, err := pgx.Connect(ctx, testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var s cluster.CutoverSession
	if err := tx.QueryRow(ctx, `SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&s.PID, &s.BackendStart); err != nil {
		t.Fatal(err)
	}
	if err := tickets.CutoverBegin(ctx, pool, tickets.Cutover{TicketID: lingering, Op: tickets.CutoverRestore, Cluster: "default",
		LiveDatabase: live, Incoming: incoming, Outgoing: outgoing, BackendPID: s.PID, BackendStart: s.BackendStart}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{live}.Sanitize()+" RENAME TO "+pgx.Identifier{outgoing}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if blocked, err := cl.Blocked(ctx, live); err != nil || !blocked {
		t.Fatalf("the lingering session does not hold live: %t %v", blocked, err)
	}
	c := settled(lingering, tickets.CutoverUndone)
	if !strings.Contains(c.Note, "lingered") {
		t.Fatalf("the note does not say the session was ended: %q", c.Note)
	}
	if blocked, err := cl.Blocked(ctx, live); err != nil || blocked {
		t.Fatalf("live still held after settling: %t %v", blocked, err)
	}
	if ok, err := cl.Exists(ctx, live); err != nil || !ok {
		t.Fatalf("live is gone after settling the lingering cut-over: %t %v", ok, err)
	}
}

// TestResolveSwapAsksTheLiveDatabase: a swap recorded as committing (the
// worker died between the commit and recording it) is resolved from the live
// database's knowledge of its transaction: committed is finished and
// recorded, aborted is redone, in progress is waited for.
func TestResolveSwapAsksTheLiveDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, cl, newTicket := deadWorkerFixture(t, "proj-resolve")
	ticket := newTicket()
	liveURL := testenv.NewDatabase(t)
	live := dbName(liveURL)
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
