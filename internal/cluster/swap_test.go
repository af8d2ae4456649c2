package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
)

// swapSchema is a customer database: orders with an inheritance child, a
// table referencing orders, a CHECK constraint calling a trap function that
// records who runs it and with what rights, and a trigger that would change
// rows if it ran during a load.
const swapSchema = `
CREATE TABLE public.customers (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.trap_log (who text, super bool, what text, PRIMARY KEY (who, super, what));
CREATE FUNCTION public.trap_check(n int) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.trap_log SELECT current_user, rolsuper, 'check' FROM pg_roles WHERE rolname = current_user
		ON CONFLICT DO NOTHING;
	RETURN n >= 0;
END $$;
CREATE TABLE public.orders (
	id bigserial PRIMARY KEY,
	customer_id bigint REFERENCES public.customers (id),
	note text,
	amount int NOT NULL DEFAULT 1 CHECK (public.trap_check(amount)));
CREATE TABLE public.orders_archive () INHERITS (public.orders);
CREATE TABLE public.order_items (id bigserial PRIMARY KEY, order_id bigint REFERENCES public.orders (id) ON DELETE CASCADE, qty int);
CREATE TABLE public.order_events (order_id bigint REFERENCES public.orders (id), at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE public.order_events_2025 PARTITION OF public.order_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.order_events_2026 PARTITION OF public.order_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.note := 'touched by trigger';
	INSERT INTO public.trap_log SELECT current_user, rolsuper, 'trigger' FROM pg_roles WHERE rolname = current_user
		ON CONFLICT DO NOTHING;
	RETURN NEW;
END $$;
CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.touch();
`

// swapEnv is a live database owned by a non-superuser role (connected as
// that role), a staging database holding the snapshot's orders, and a keep
// database for the copies, both reached as the admin.
type swapEnv struct {
	t                       *testing.T
	c                       *cluster.Cluster
	role                    string
	live, staging, keep     string
	liveURL                 string
	orders                  []cluster.Table
	snapshotRows, liveRows  int
	archiveRows, itemOrders int
}

func urlAs(t *testing.T, c *cluster.Cluster, db, role string) string {
	t.Helper()
	u, err := url.Parse(c.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

func newSwapEnv(t *testing.T) *swapEnv {
	t.Helper()
	ctx := context.Background()
	c := newCluster(t)
	e := &swapEnv{t: t, c: c, role: testenv.Name("owner_"), live: testenv.Name("t_live_"), staging: testenv.Name("t_stg_"), keep: testenv.Name("t_keep_"),
		orders: []cluster.Table{{Schema: "public", Name: "orders"}}, snapshotRows: 50, liveRows: 80, archiveRows: 7}
	admin, err := pgx.Connect(ctx, testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{e.role}.Sanitize()+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{e.live, e.staging, e.keep} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER "+pgx.Identifier{e.role}.Sanitize()+" TEMPLATE template0"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, db := range []string{e.live, e.staging, e.keep} {
			_ = c.Drop(context.Background(), db)
		}
		conn, err := pgx.Connect(context.Background(), testenv.AdminURL(t))
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{e.role}.Sanitize())
			conn.Close(context.Background())
		}
	})
	e.liveURL = urlAs(t, c, e.live, e.role)
	e.execAs(e.live, swapSchema+fmt.Sprintf(`
		INSERT INTO public.customers (name) SELECT 'c' || g FROM generate_series(1, 10) g;
		ALTER TABLE public.orders DISABLE TRIGGER orders_touch;
		INSERT INTO public.orders (customer_id, note, amount) SELECT 1 + g %% 10, 'live ' || g, g FROM generate_series(1, %d) g;
		INSERT INTO public.orders_archive (id, note, amount) SELECT 1000 + g, 'archived ' || g, g FROM generate_series(1, %d) g;
		ALTER TABLE public.orders ENABLE TRIGGER orders_touch;
		INSERT INTO public.order_items (order_id, qty) SELECT g, 1 FROM generate_series(1, 5) g;
		INSERT INTO public.order_events VALUES (1, '2025-05-01'), (2, '2026-05-01');
		DELETE FROM public.trap_log;`, e.liveRows, e.archiveRows))
	e.execAs(e.staging, swapSchema+fmt.Sprintf(`
		INSERT INTO public.customers (name) SELECT 'c' || g FROM generate_series(1, 10) g;
		ALTER TABLE public.orders DISABLE TRIGGER orders_touch;
		INSERT INTO public.orders (customer_id, note, amount) SELECT 1 + g %% 10, 'snapshot ' || g, g FROM generate_series(1, %d) g;`, e.snapshotRows))
	return e
}

func (e *swapEnv) connAs(db string) *pgx.Conn {
	e.t.Helper()
	conn, err := pgx.Connect(context.Background(), urlAs(e.t, e.c, db, e.role))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (e *swapEnv) execAs(db, sql string) {
	e.t.Helper()
	conn, err := pgx.Connect(context.Background(), urlAs(e.t, e.c, db, e.role))
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		e.t.Fatalf("%s: %v", db, err)
	}
}

func (e *swapEnv) adminConn(db string) *pgx.Conn {
	e.t.Helper()
	conn, err := e.c.Connect(context.Background(), db)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func ids(t *testing.T, conn *pgx.Conn, sql string) map[int64]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, id := range list {
		out[id] = true
	}
	return out
}

func scalar[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplaceRowsLosesNoCommittedWrite runs a writer committing orders in a
// loop on its own connection while the swap runs: every id it committed is
// afterwards in the live table or in the kept copy, never in neither and
// never in both; the writer never fails (its inserts after the swap get ids
// past every kept key); the swap ran as the non-superuser owner, the
// customer's CHECK ran without superuser rights, the trigger was held off
// during the load and is on again; the inheritance child is untouched.
func TestReplaceRowsLosesNoCommittedWrite(t *testing.T) {
	t.Parallel()
	e := newSwapEnv(t)
	ctx := context.Background()
	live, staging, keep := e.connAs(e.live), e.adminConn(e.staging), e.adminConn(e.keep)
	if scalar[bool](t, live, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`) {
		t.Fatal("the test's live connection is a superuser; it proves nothing")
	}
	archiveBefore := scalar[string](t, live, `SELECT md5(string_agg(x::text, ',' ORDER BY id)) FROM ONLY public.orders_archive x`)

	writer := e.connAs(e.live)
	var mu sync.Mutex
	var committed []int64
	var werr error
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var id int64
			if err := writer.QueryRow(ctx, `INSERT INTO public.orders (note) VALUES ('writer') RETURNING id`).Scan(&id); err != nil {
				mu.Lock()
				werr = err
				mu.Unlock()
				return
			}
			mu.Lock()
			committed = append(committed, id)
			mu.Unlock()
		}
	}()
	n := func() int { mu.Lock(); defer mu.Unlock(); return len(committed) }
	waitFor(t, "the writer's first commits", func() bool { return n() >= 20 || werr != nil })

	var steps []string
	res, err := cluster.ReplaceRows(ctx, live, cluster.Source{Conn: staging}, cluster.Keep{Conn: keep, Schema: "backup"}, e.orders,
		cluster.SwapOptions{Step: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	atSwap := n()
	waitFor(t, "the writer's commits after the swap", func() bool { return n() >= atSwap+20 || werr != nil })
	close(stop)
	<-done
	if werr != nil {
		t.Fatalf("the writer failed: %v", werr)
	}

	liveIDs := ids(t, live, `SELECT id FROM ONLY public.orders`)
	keptIDs := ids(t, keep, `SELECT id::bigint FROM backup."public.orders"`)
	for _, id := range committed {
		if liveIDs[id] == keptIDs[id] {
			t.Fatalf("writer's committed id %d: in live %t, in the kept copy %t (want exactly one)", id, liveIDs[id], keptIDs[id])
		}
	}
	if got := int64(len(keptIDs)); got != res.Before["public.orders"] || got < int64(e.liveRows) {
		t.Fatalf("kept %d rows, swap reports %d before, live had at least %d", got, res.Before["public.orders"], e.liveRows)
	}
	if res.After["public.orders"] != int64(e.snapshotRows) {
		t.Fatalf("loaded %d rows, want %d", res.After["public.orders"], e.snapshotRows)
	}
	if got := scalar[int64](t, live, `SELECT count(*) FROM ONLY public.orders WHERE note LIKE 'snapshot %'`); got != int64(e.snapshotRows) {
		t.Fatalf("live holds %d snapshot rows as they were, want %d (a trigger changed them?)", got, e.snapshotRows)
	}
	if strings.Join(steps, ",") != "locked,kept,cleared,loaded,checked" {
		t.Fatalf("steps %v", steps)
	}
	// ONLY: the inheritance child's rows are untouched and not in the copy.
	if got := scalar[string](t, live, `SELECT md5(string_agg(x::text, ',' ORDER BY id)) FROM ONLY public.orders_archive x`); got != archiveBefore {
		t.Fatal("the swap of public.orders changed its inheritance child orders_archive")
	}
	for id := range keptIDs {
		if id > 1000 && id <= 1000+int64(e.archiveRows) {
			t.Fatalf("the kept copy holds the child's row %d", id)
		}
	}
	// The CHECK ran during the load, as the owner, without superuser rights.
	if got := scalar[string](t, live, `SELECT string_agg(who || ':' || super || ':' || what, ',' ORDER BY what) FROM public.trap_log`); got != e.role+":false:check,"+e.role+":false:trigger" {
		t.Fatalf("trap log %q: want the check and the writer's trigger, run as %s without superuser rights", got, e.role)
	}
	if got := scalar[string](t, live, `SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'orders_touch'`); got != "O" {
		t.Fatalf("trigger left %q after the swap", got)
	}
	if len(res.DisabledTriggers) != 1 {
		t.Fatalf("disabled triggers reported: %v", res.DisabledTriggers)
	}
	// The foreign keys are back and valid.
	if got := scalar[int64](t, live, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated AND conparentid = 0
		AND conrelid IN ('public.orders'::regclass, 'public.order_items'::regclass, 'public.order_events'::regclass)`); got != 3 {
		t.Fatalf("%d valid foreign keys after the swap, want 3 (one on a partitioned table)", got)
	}
	if got := scalar[int64](t, live, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid <> 0
		AND conrelid IN ('public.order_events_2025'::regclass, 'public.order_events_2026'::regclass)`); got != 2 {
		t.Fatalf("the partitions' foreign keys did not come back: %d", got)
	}
	// Nothing of the swap lives in the live database.
	if got := scalar[int64](t, live, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'restore%' OR nspname = 'backup'`); got != 0 {
		t.Fatal("the swap left a schema in the live database")
	}
}

// TestReplaceRowsKilledMidSwap terminates the live session, or the keep
// session, after the rows were replaced but before the commit: the live
// database is unchanged, and a retry on new connections succeeds.
func TestReplaceRowsKilledMidSwap(t *testing.T) {
	t.Parallel()
	for _, victim := range []string{"live", "keep"} {
		t.Run(victim, func(t *testing.T) {
			t.Parallel()
			e := newSwapEnv(t)
			ctx := context.Background()
			live, staging, keep := e.connAs(e.live), e.adminConn(e.staging), e.adminConn(e.keep)
			admin := e.adminConn("postgres")
			before, err := cluster.Checksum(ctx, e.adminConn(e.live))
			if err != nil {
				t.Fatal(err)
			}
			pid := live.PgConn().PID()
			if victim == "keep" {
				pid = keep.PgConn().PID()
			}
			_, err = cluster.ReplaceRows(ctx, live, cluster.Source{Conn: staging}, cluster.Keep{Conn: keep, Schema: "backup"}, e.orders,
				cluster.SwapOptions{Step: func(s string) {
					if s == "loaded" {
						var ok bool
						if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ok); err != nil || !ok {
							t.Errorf("terminate %d: %t %v", pid, ok, err)
						}
					}
				}})
			if err == nil {
				t.Fatal("the swap committed although its session was killed")
			}
			after, err := cluster.Checksum(ctx, e.adminConn(e.live))
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Fatal("the live database changed although the swap was killed before its commit")
			}
			res, err := cluster.ReplaceRows(ctx, e.connAs(e.live), cluster.Source{Conn: e.adminConn(e.staging)},
				cluster.Keep{Conn: e.adminConn(e.keep), Schema: "backup"}, e.orders, cluster.SwapOptions{})
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if res.Before["public.orders"] != int64(e.liveRows) || res.After["public.orders"] != int64(e.snapshotRows) {
				t.Fatalf("retry: %+v", res)
			}
			if got := scalar[int64](t, e.adminConn(e.keep), `SELECT count(*) FROM backup."public.orders"`); got != int64(e.liveRows) {
				t.Fatalf("kept copy after the retry holds %d rows, want %d", got, e.liveRows)
			}
		})
	}
}

// TestRollbackKeepsWritesSince swaps, writes (a new order, an item pointing at
// it, a changed order), then rolls back by swapping the kept copy in: with a
// dangling reference it refuses and changes nothing; with allow it keeps the
// writes aside, reports the reference, and the next insert succeeds.
func TestRollbackKeepsWritesSince(t *testing.T) {
	t.Parallel()
	e := newSwapEnv(t)
	ctx := context.Background()
	live, staging, keep := e.connAs(e.live), e.adminConn(e.staging), e.adminConn(e.keep)
	beforeRestore := scalar[string](t, live, `SELECT md5(string_agg(x::text, ',' ORDER BY id)) FROM ONLY public.orders x`)
	maxBefore := scalar[int64](t, live, `SELECT max(id) FROM ONLY public.orders`)
	swap, err := cluster.ReplaceRows(ctx, live, cluster.Source{Conn: staging}, cluster.Keep{Conn: keep, Schema: "backup"}, e.orders, cluster.SwapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newID := scalar[int64](t, live, `INSERT INTO public.orders (note) VALUES ('after the restore') RETURNING id`)
	if newID <= maxBefore {
		t.Fatalf("new order got id %d, not past the kept keys (max %d): ids would be reused", newID, maxBefore)
	}
	if _, err := live.Exec(ctx, `INSERT INTO public.order_items (order_id, qty) VALUES ($1, 3)`, newID); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Exec(ctx, `UPDATE public.orders SET amount = 99 WHERE id = 2`); err != nil {
		t.Fatal(err)
	}

	changes, err := cluster.ChangesSince(ctx, live, e.orders, swap.XID, swap.After)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].WrittenSince != 2 || changes[0].RemovedSince != 1 || changes[0].Rows != int64(e.snapshotRows)+1 {
		t.Fatalf("changes since the restore: %+v", changes)
	}
	if s := changes[0].Sentence("db x"); !strings.HasPrefix(s, "2 rows written to public.orders since the restore will be kept in db x") {
		t.Fatalf("sentence %q", s)
	}

	aside := e.adminConn(e.keep)
	liveBefore, _ := cluster.Checksum(ctx, e.adminConn(e.live))
	_, err = cluster.ReplaceRows(ctx, live, cluster.Source{Conn: keep, Schema: "backup"}, cluster.Keep{Conn: aside, Schema: "aside"}, e.orders, cluster.SwapOptions{})
	var de *cluster.DanglingError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "order_items") {
		t.Fatalf("rollback with an item pointing at a new order: want a DanglingError naming order_items, got %v", err)
	}
	if after, _ := cluster.Checksum(ctx, e.adminConn(e.live)); after != liveBefore {
		t.Fatal("a refused rollback changed the live database")
	}

	rb, err := cluster.ReplaceRows(ctx, live, cluster.Source{Conn: keep, Schema: "backup"}, cluster.Keep{Conn: aside, Schema: "aside"}, e.orders, cluster.SwapOptions{AllowDangling: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := scalar[string](t, live, `SELECT md5(string_agg(x::text, ',' ORDER BY id)) FROM ONLY public.orders x`); got != beforeRestore {
		t.Fatal("rollback did not bring back the rows as they were before the restore")
	}
	if len(rb.Dangling) != 1 || !strings.Contains(rb.Dangling[0], "order_items") {
		t.Fatalf("dangling references not reported: %v", rb.Dangling)
	}
	if got := scalar[int64](t, live, `SELECT count(*) FROM pg_constraint WHERE conname = 'order_items_order_id_fkey' AND NOT convalidated`); got != 1 {
		t.Fatal("the broken foreign key did not come back NOT VALID")
	}
	// The writes since the restore are kept aside, with the new order.
	kept := ids(t, aside, `SELECT id::bigint FROM aside."public.orders"`)
	if !kept[newID] || len(kept) != e.snapshotRows+1 {
		t.Fatalf("aside holds %d rows (new order %d kept: %t)", len(kept), newID, kept[newID])
	}
	if got := scalar[string](t, aside, `SELECT amount FROM aside."public.orders" WHERE id = '2'`); got != "99" {
		t.Fatalf("the changed order was kept as amount %s", got)
	}
	// Sequences: past every restored and kept key; the next insert works.
	next := scalar[int64](t, live, `INSERT INTO public.orders (note) VALUES ('after the rollback') RETURNING id`)
	if next <= newID {
		t.Fatalf("next id %d is not past the kept-aside key %d", next, newID)
	}
}

// TestReplaceRowsWaitsForLocksAndSaysSo holds a lock on orders in another
// session: the swap reports its waits, then goes through once it is released.
func TestReplaceRowsWaitsForLocksAndSaysSo(t *testing.T) {
	t.Parallel()
	e := newSwapEnv(t)
	ctx := context.Background()
	holder := e.connAs(e.live)
	htx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := htx.Exec(ctx, `LOCK TABLE public.customers IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	var waits []cluster.LockWait
	res, err := cluster.ReplaceRows(ctx, e.connAs(e.live), cluster.Source{Conn: e.adminConn(e.staging)}, cluster.Keep{Conn: e.adminConn(e.keep), Schema: "backup"}, e.orders,
		cluster.SwapOptions{LockTimeout: 100 * time.Millisecond, OnLockWait: func(w cluster.LockWait) {
			waits = append(waits, w)
			if w.Attempt == 2 {
				_ = htx.Rollback(ctx)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(waits) < 2 || waits[0].Holders != 1 {
		t.Fatalf("lock waits reported: %+v", waits)
	}
	if res.After["public.orders"] != int64(e.snapshotRows) {
		t.Fatalf("swap after the wait: %+v", res)
	}

	// With the lock held past LockWait, the swap gives up and changes nothing.
	htx, err = holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer htx.Rollback(ctx) //nolint:errcheck
	if _, err := htx.Exec(ctx, `LOCK TABLE public.order_items IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	_, err = cluster.ReplaceRows(ctx, e.connAs(e.live), cluster.Source{Conn: e.adminConn(e.staging)}, cluster.Keep{Conn: e.adminConn(e.keep), Schema: "backup2"}, e.orders,
		cluster.SwapOptions{LockTimeout: 50 * time.Millisecond, LockWait: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "could not lock the tables") {
		t.Fatalf("want a lock give-up, got %v", err)
	}
}

// BenchmarkReplaceRows swaps 100,000 rows (and keeps 100,000) of a table
// with a foreign key pointing at it, as the admin: the time the live table
// stays locked. Run: go test -run '^$' -bench ReplaceRows -benchtime 3x ./internal/cluster/
func BenchmarkReplaceRows(b *testing.B) {
	ctx := context.Background()
	c, err := cluster.New(testenv.AdminURL(b))
	if err != nil {
		b.Fatal(err)
	}
	const rows = 100000
	schema := fmt.Sprintf(`CREATE TABLE public.t (id bigserial PRIMARY KEY, a text, b int);
		INSERT INTO public.t (a, b) SELECT md5(g::text), g FROM generate_series(1, %d) g;
		CREATE TABLE public.r (id int PRIMARY KEY, t_id bigint REFERENCES public.t (id));
		INSERT INTO public.r SELECT g, g FROM generate_series(1, 100) g;`, rows)
	conns := map[string]*pgx.Conn{}
	for _, role := range []string{"live", "staging", "keep"} {
		name := testenv.Name("b_" + role + "_")
		if err := c.Create(ctx, name); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Drop(context.Background(), name) })
		conn, err := c.Connect(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(context.Background()) })
		if role != "keep" {
			if _, err := conn.Exec(ctx, schema); err != nil {
				b.Fatal(err)
			}
		}
		conns[role] = conn
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := cluster.ReplaceRows(ctx, conns["live"], cluster.Source{Conn: conns["staging"]}, cluster.Keep{Conn: conns["keep"], Schema: "backup"},
			[]cluster.Table{{Schema: "public", Name: "t"}}, cluster.SwapOptions{})
		if err != nil || res.After["public.t"] != rows {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(2*rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestReplaceRowsPartitionedTable swaps a partitioned table whose trigger is
// cloned onto its partitions: every partition's rows are replaced, the rows
// load as they were (the clones are held off), and the clones are enabled
// again afterwards.
func TestReplaceRowsPartitionedTable(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	const schema = `
		CREATE TABLE public.events (id bigserial, at date NOT NULL, note text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
		CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
		CREATE TABLE public.events_2026 PARTITION OF public.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
		CREATE FUNCTION public.stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'stamped'; RETURN NEW; END $$;
		CREATE TRIGGER events_stamp BEFORE INSERT ON public.events FOR EACH ROW EXECUTE FUNCTION public.stamp();
		ALTER TABLE public.events_2025 DISABLE TRIGGER events_stamp;
		ALTER TABLE public.events_2026 DISABLE TRIGGER events_stamp;`
	live, staging, keep := testenv.Name("t_plive_"), testenv.Name("t_pstg_"), testenv.Name("t_pkeep_")
	makeDB(t, c, live, schema+`INSERT INTO public.events (at, note) SELECT '2025-01-01'::date + g * 3, 'live' FROM generate_series(1, 200) g;
		ALTER TABLE public.events_2025 ENABLE TRIGGER events_stamp; ALTER TABLE public.events_2026 ENABLE TRIGGER events_stamp;`)
	makeDB(t, c, staging, schema+`INSERT INTO public.events (at, note) SELECT '2025-01-01'::date + g * 5, 'snapshot' FROM generate_series(1, 100) g;`)
	makeDB(t, c, keep, "")
	lc, sc, kc := connect(t, c, live), connect(t, c, staging), connect(t, c, keep)
	res, err := cluster.ReplaceRows(ctx, lc, cluster.Source{Conn: sc}, cluster.Keep{Conn: kc, Schema: "backup"},
		[]cluster.Table{{Schema: "public", Name: "events"}}, cluster.SwapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Before["public.events"] != 200 || res.After["public.events"] != 100 {
		t.Fatalf("counts %+v", res)
	}
	if got := scalar[string](t, lc, `SELECT string_agg(DISTINCT note, ',') FROM public.events`); got != "snapshot" {
		t.Fatalf("notes after the swap: %q (a trigger ran during the load?)", got)
	}
	for _, p := range []string{"events_2025", "events_2026"} {
		if got := scalar[string](t, lc, `SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'events_stamp' AND tgrelid = $1::regclass`, "public."+p); got != "O" {
			t.Fatalf("trigger on %s left %q", p, got)
		}
	}
	if got := scalar[string](t, lc, `INSERT INTO public.events (at) VALUES ('2026-02-01') RETURNING note`); got != "stamped" {
		t.Fatalf("trigger does not fire after the swap: %q", got)
	}
}

// session opens an admin session of db; the caller closes it (connect
// closes it when the test ends).
func session(t testing.TB, c *cluster.Cluster, db string) *pgx.Conn {
	t.Helper()
	conn, err := c.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func connect(t *testing.T, c *cluster.Cluster, db string) *pgx.Conn {
	t.Helper()
	conn := session(t, c, db)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
