package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
)

func newCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	c, err := cluster.New(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// makeDB creates a database holding schema and registers its drop.
func makeDB(t *testing.T, c *cluster.Cluster, name, schema string) {
	t.Helper()
	ctx := context.Background()
	if err := c.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Drop(context.Background(), name) })
	exec(t, c, name, schema)
}

// swapDatabases makes live holding 'old' and staging holding 'new' in a
// table t, and registers the drop of kept, the name live moves to.
func swapDatabases(t *testing.T, c *cluster.Cluster, prefix string) (live, staging, kept string) {
	t.Helper()
	base := testenv.Name(prefix)
	live, staging, kept = base, base+"_stg", base+"_pre"
	makeDB(t, c, live, `CREATE TABLE t (v text); INSERT INTO t VALUES ('old')`)
	makeDB(t, c, staging, `CREATE TABLE t (v text); INSERT INTO t VALUES ('new')`)
	t.Cleanup(func() { _ = c.Drop(context.Background(), kept) })
	return live, staging, kept
}

func exec(t *testing.T, c *cluster.Cluster, db, sql string) {
	t.Helper()
	ctx := context.Background()
	conn := session(t, c, db)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", db, err)
	}
}

func query[T any](t *testing.T, c *cluster.Cluster, db, sql string) T {
	t.Helper()
	ctx := context.Background()
	conn := session(t, c, db)
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql).Scan(&v); err != nil {
		t.Fatalf("%s: %s: %v", db, sql, err)
	}
	return v
}

func TestSwapIsAtomicAndDetectable(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	live, staging, kept := swapDatabases(t, c, "sw_")

	// A session holding the live database open must not block the cut-over.
	hold := session(t, c, live)
	defer hold.Close(ctx)

	if st, err := c.State(ctx, live, staging, kept); err != nil || st != cluster.SwapNotStarted {
		t.Fatalf("state before = %v, %v", st, err)
	}
	if err := c.Swap(ctx, live, staging, kept); err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(ctx, live, staging, kept); err != nil || st != cluster.SwapDone {
		t.Fatalf("state after = %v, %v", st, err)
	}
	if got := query[string](t, c, live, `SELECT v FROM t`); got != "new" {
		t.Fatalf("live holds %q after the swap", got)
	}
	if got := query[string](t, c, kept, `SELECT v FROM t`); got != "old" {
		t.Fatalf("kept holds %q", got)
	}
	// Rollback is the same swap the other way round.
	back := live + "_rb"
	t.Cleanup(func() { _ = c.Drop(context.Background(), back) })
	if err := c.Swap(ctx, live, kept, back); err != nil {
		t.Fatal(err)
	}
	if got := query[string](t, c, live, `SELECT v FROM t`); got != "old" {
		t.Fatalf("live holds %q after rollback", got)
	}
}

func TestSwapFailsWholeWhenKeptNameTaken(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	base := testenv.Name("sw_")
	live, staging, kept := base, base+"_stg", base+"_pre"
	makeDB(t, c, live, `CREATE TABLE t (v text); INSERT INTO t VALUES ('old')`)
	makeDB(t, c, staging, `CREATE TABLE t (v text)`)
	makeDB(t, c, kept, ``)
	before, err := c.Checksum(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.State(ctx, live, staging, kept); !errors.Is(err, cluster.ErrSwapState) {
		t.Fatalf("State with all three present: %v", err)
	}
	if err := c.Swap(ctx, live, staging, kept); err == nil {
		t.Fatal("swap succeeded onto a taken name")
	}
	after, err := c.Checksum(ctx, live)
	if err != nil {
		t.Fatalf("live not reachable after a failed swap: %v", err)
	}
	if before != after {
		t.Fatal("live database changed by a failed swap")
	}
}

const tableSchema = `
CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, user_id bigint REFERENCES users(id), total int,
    doubled int GENERATED ALWAYS AS (total * 2) STORED);
CREATE TABLE notes (id serial PRIMARY KEY, order_id int REFERENCES orders(id), body text);
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END $$;
CREATE TRIGGER users_stamp BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION stamp();
`

func TestReplaceTablesAndRollBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	live, staging := testenv.Name("tl_"), testenv.Name("ts_")
	makeDB(t, c, live, tableSchema+`
		INSERT INTO users (name) VALUES ('a'), ('b'), ('c');
		INSERT INTO orders (user_id, total) VALUES (1, 10), (2, 20), (3, 30), (3, 31);
		INSERT INTO notes (order_id, body) VALUES (1, 'n1');`)
	makeDB(t, c, staging, tableSchema+`
		INSERT INTO users (name) VALUES ('a'), ('b'), ('c');
		INSERT INTO orders (user_id, total) VALUES (1, 100), (2, 200);`)
	tables := []cluster.Table{{"public", "orders"}}

	lc, sc := connect(t, c, live), connect(t, c, staging)

	diff, err := cluster.ColumnDiff(ctx, lc, sc, tables)
	if err != nil || len(diff) != 0 {
		t.Fatalf("diff = %v, %v", diff, err)
	}
	backup, err := cluster.Backup(ctx, lc, "restore_backup_t1", tables)
	if err != nil {
		t.Fatal(err)
	}
	if backup["public.orders"] != 4 {
		t.Fatalf("backed up %v", backup)
	}
	res, err := cluster.Replace(ctx, lc, sc, tables, "restore_backup_t1", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Before["public.orders"] != 4 || res.After["public.orders"] != 2 {
		t.Fatalf("replace result %+v", res)
	}
	if done, err := cluster.IsReplaced(ctx, lc, "restore_backup_t1"); err != nil || !done {
		t.Fatalf("IsReplaced after Replace = %v, %v", done, err)
	}
	if got := query[int64](t, c, live, `SELECT sum(doubled) FROM orders`); got != 600 {
		t.Fatalf("generated column sum %d, want 600", got)
	}
	// The owned sequence follows the snapshot: the next id is 3.
	exec(t, c, live, `INSERT INTO orders (user_id, total) VALUES (1, 1)`)
	if got := query[int64](t, c, live, `SELECT max(id) FROM orders`); got != 3 {
		t.Fatalf("next order id %d, want 3", got)
	}
	exec(t, c, live, `DELETE FROM orders WHERE id = 3`)

	back, err := cluster.RestoreBackup(ctx, lc, "restore_backup_t1", tables)
	if err != nil {
		t.Fatal(err)
	}
	if back["public.orders"] != 4 || query[int64](t, c, live, `SELECT sum(total) FROM orders`) != 91 {
		t.Fatalf("rollback put back %v", back)
	}
}

func TestReplaceRefusesDanglingReferences(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	live, staging := testenv.Name("tl_"), testenv.Name("ts_")
	makeDB(t, c, live, tableSchema+`
		INSERT INTO users (name) VALUES ('a');
		INSERT INTO orders (user_id, total) VALUES (1, 10), (1, 20);
		INSERT INTO notes (order_id, body) VALUES (2, 'points at order 2');`)
	makeDB(t, c, staging, tableSchema+`
		INSERT INTO users (name) VALUES ('a');
		INSERT INTO orders (user_id, total) VALUES (1, 10);`)
	lc, sc := connect(t, c, live), connect(t, c, staging)
	before, _ := cluster.Checksum(ctx, lc)

	if _, err := cluster.Backup(ctx, lc, "bk", []cluster.Table{{"public", "orders"}}); err != nil {
		t.Fatal(err)
	}
	before, _ = cluster.Checksum(ctx, lc)
	_, err := cluster.Replace(ctx, lc, sc, []cluster.Table{{"public", "orders"}}, "bk", false)
	var de *cluster.DanglingError
	if !errors.As(err, &de) || len(de.Refs) != 1 || !strings.Contains(de.Refs[0], "public.notes") {
		t.Fatalf("want a dangling error naming public.notes, got %v", err)
	}
	if after, _ := cluster.Checksum(ctx, lc); after != before {
		t.Fatal("refused replacement changed the live database")
	}
	if done, _ := cluster.IsReplaced(ctx, lc, "bk"); done {
		t.Fatal("refused replacement left its marker")
	}
	res, err := cluster.Replace(ctx, lc, sc, []cluster.Table{{"public", "orders"}}, "bk", true)
	if err != nil || len(res.Dangling) != 1 {
		t.Fatalf("allowed replacement: %+v, %v", res, err)
	}
}

func TestColumnDiffIsReadable(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	live, staging := testenv.Name("tl_"), testenv.Name("ts_")
	makeDB(t, c, live, `CREATE TABLE t (id int, name text, added bool)`)
	makeDB(t, c, staging, `CREATE TABLE t (id bigint, name text, gone text)`)
	lc, sc := connect(t, c, live), connect(t, c, staging)
	diff, err := cluster.ColumnDiff(ctx, lc, sc, []cluster.Table{{"public", "t"}, {"public", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`public.t: column "id" is integer in the live table, bigint in the snapshot`,
		`public.t: column "gone" (text) is in the snapshot, not in the live table`,
		`public.t: column "added" (boolean) is in the live table, not in the snapshot`,
		`public.missing: table is missing in the live database`,
	}
	if strings.Join(diff, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diff:\n%s\nwant:\n%s", strings.Join(diff, "\n"), strings.Join(want, "\n"))
	}
}

func TestDisableSideEffects(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	db := testenv.Name("se_")
	// Stand-ins shaped like pg_net's and pg_cron's objects (the extensions are
	// not installed on the test cluster).
	makeDB(t, c, db, `
		CREATE SCHEMA net;
		CREATE FUNCTION net.http_post(url text) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
		CREATE TABLE orders (id int);
		CREATE FUNCTION notify_hook() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM net.http_post('https://example.invalid/hook'); RETURN NEW; END $$;
		CREATE TRIGGER orders_hook AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION notify_hook();
		CREATE SCHEMA cron;
		CREATE TABLE cron.job (jobid serial, schedule text, command text, active bool DEFAULT true);
		INSERT INTO cron.job (schedule, command) VALUES ('* * * * *', 'SELECT 1'), ('0 0 * * *', 'VACUUM');`)
	conn := session(t, c, db)
	defer conn.Close(ctx)
	done, err := cluster.DisableSideEffects(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	want := "2 pg_cron jobs paused (cron.job.active = false)\nHTTP hook trigger orders_hook on public.orders disabled"
	if strings.Join(done, "\n") != want {
		t.Fatalf("disabled:\n%s\nwant:\n%s", strings.Join(done, "\n"), want)
	}
	if n := query[int64](t, c, db, `SELECT count(*) FROM cron.job WHERE active`); n != 0 {
		t.Fatalf("%d cron jobs still active", n)
	}
	if e := query[string](t, c, db, `SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'orders_hook'`); e != "D" {
		t.Fatalf("trigger enabled state %q", e)
	}
	again, err := cluster.DisableSideEffects(ctx, conn)
	if err != nil || len(again) != 0 {
		t.Fatalf("second pass = %v, %v; want nothing left to disable", again, err)
	}
}
