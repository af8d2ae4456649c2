package cluster_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/testenv"
)

// mergeSchema is a customer schema for undelete tests: orders reference
// customers, items reference orders (cascading), and a table without a key.
const mergeSchema = `
CREATE TABLE public.customers (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES public.customers (id), note text, amount int NOT NULL, doc jsonb);
CREATE TABLE public.order_items (id bigserial PRIMARY KEY, order_id bigint REFERENCES public.orders (id) ON DELETE CASCADE, qty int);
CREATE TABLE public.nokey (a int, b text);
CREATE TABLE public.victim (x int);
`

// mergeEnv is a live database (reached as its owner through a Session) and
// a staging database holding the snapshot (reached as the admin).
type mergeEnv struct {
	t       *testing.T
	live    *pgx.Conn // as the live database's owner
	admin   *pgx.Conn // live, as the admin, for checks
	staging *pgx.Conn
}

func newMergeEnv(t *testing.T, schema, snapshot string) *mergeEnv {
	t.Helper()
	ctx := context.Background()
	c := newCluster(t)
	live := testenv.NewOwnedDatabase(t)
	stg := testenv.NewOwnedDatabase(t)
	for _, db := range []testenv.OwnedDatabase{live, stg} {
		conn, err := pgx.Connect(ctx, testenv.RoleURL(t, db.Name, db.Owner))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, schema+snapshot); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	}
	e := &mergeEnv{t: t}
	var err error
	if e.staging, err = pgx.Connect(ctx, stg.URL); err != nil {
		t.Fatal(err)
	}
	if e.admin, err = pgx.Connect(ctx, live.URL); err != nil {
		t.Fatal(err)
	}
	rc, err := c.ConnectOwner(ctx, live.Name)
	if err != nil {
		t.Fatal(err)
	}
	e.live = rc.Conn
	t.Cleanup(func() {
		_ = rc.Close(context.Background())
		e.staging.Close(context.Background())
		e.admin.Close(context.Background())
	})
	return e
}

func (e *mergeEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.admin.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *mergeEnv) ints(sql string) []int64 {
	e.t.Helper()
	rows, err := e.admin.Query(context.Background(), sql)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *mergeEnv) one(sql string) int64 {
	e.t.Helper()
	v := e.ints(sql)
	if len(v) != 1 {
		e.t.Fatalf("%s: %d rows", sql, len(v))
	}
	return v[0]
}

const hundredThousand = `
INSERT INTO public.customers (name) SELECT 'c' || g FROM generate_series(1, 100) g;
INSERT INTO public.orders (customer_id, note, amount, doc) SELECT 1 + g % 100, 'note ' || g, g, jsonb_build_object('g', g) FROM generate_series(1, 100000) g;
`

func orders() []cluster.MergeTable {
	return []cluster.MergeTable{{Table: cluster.Table{Schema: "public", Name: "orders"}}}
}

// TestMergeRowsUndeletes100k: of 100,000 snapshot rows, 1,000 deleted live
// come back and nothing else changes; the 50 changed live are reported as
// conflicts (with 20 samples) and keep their live content; the sequence
// moves past the keys; the rollback deletes exactly the 1,000.
func TestMergeRowsUndeletes100k(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMergeEnv(t, mergeSchema, hundredThousand)
	e.exec(`DELETE FROM public.orders WHERE id % 100 = 0`)
	e.exec(`UPDATE public.orders SET note = 'changed live' WHERE id % 100 = 1 AND id <= 5000`)
	e.exec(`SELECT setval('public.orders_id_seq', 10)`) // as if it had been reset lower
	before := e.one(`SELECT count(*) FROM public.orders`)

	m, err := cluster.MergeRows(ctx, e.live, e.staging, orders(), cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := m.Tables[0]
	if got.Candidates != 100000 || got.Inserted != 1000 || got.Conflicts != 50 || got.Unchanged != 98950 || got.OtherKey != 0 {
		t.Fatalf("report %+v", got)
	}
	if len(got.ConflictSamples) != cluster.MaxConflictSamples || got.ConflictSamples[0] != "id=1" || got.ConflictSamples[19] != "id=1901" {
		t.Fatalf("conflict samples %v", got.ConflictSamples)
	}
	if n := e.one(`SELECT count(*) FROM public.orders`); n != before+1000 || n != 100000 {
		t.Fatalf("live has %d rows after the undelete, want 100000", n)
	}
	if n := e.one(`SELECT count(*) FROM public.orders WHERE note = 'changed live'`); n != 50 {
		t.Fatalf("%d changed live rows kept their content, want 50", n)
	}
	if n := e.one(`SELECT count(*) FROM public.orders WHERE id % 100 = 0 AND note = 'note ' || id AND doc = jsonb_build_object('g', id)`); n != 1000 {
		t.Fatalf("%d undeleted rows as in the snapshot, want 1000", n)
	}
	if next := e.one(`SELECT nextval('public.orders_id_seq')`); next <= 100000 {
		t.Fatalf("sequence hands out %d, an existing key", next)
	}
	var keys []int64
	for _, k := range got.Keys {
		v, _ := strconv.ParseInt(k[0], 10, 64)
		keys = append(keys, v)
	}
	slices.Sort(keys)
	want := e.ints(`SELECT g FROM generate_series(100, 100000, 100) g`)
	if !slices.Equal(keys, want) {
		t.Fatalf("inserted keys are not exactly the 1000 deleted ones (%d keys)", len(keys))
	}

	// A row written since the undelete that is not one of them stays.
	e.exec(`INSERT INTO public.orders (id, customer_id, note, amount) VALUES (200001, 1, 'new since', 1)`)
	e.exec(`UPDATE public.orders SET note = 'edited since' WHERE id = 300`)
	un, err := cluster.UnmergeRows(ctx, e.live, []cluster.UnmergeTable{{Table: orders()[0].Table, KeyColumns: got.KeyColumns, Keys: got.Keys}}, m.XID, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if un.Deleted["public.orders"] != 1000 || un.ChangedSince["public.orders"] != 1 {
		t.Fatalf("rollback %+v", un)
	}
	if n := e.one(`SELECT count(*) FROM public.orders WHERE id % 100 = 0 AND id <= 100000`); n != 0 {
		t.Fatalf("%d undeleted rows left after the rollback", n)
	}
	if n := e.one(`SELECT count(*) FROM public.orders`); n != before+1 {
		t.Fatalf("live has %d rows after the rollback, want %d", n, before+1)
	}
}

// TestUnmergeRowsRefusesReferencedRows: a row written after the undelete
// that points at an undeleted row makes the rollback refuse, naming both,
// and delete nothing (a cascading key would have deleted it silently).
func TestUnmergeRowsRefusesReferencedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMergeEnv(t, mergeSchema, `
INSERT INTO public.customers (name) VALUES ('a');
INSERT INTO public.orders (customer_id, note, amount) SELECT 1, 'n', g FROM generate_series(1, 10) g;`)
	e.exec(`DELETE FROM public.orders WHERE id IN (3, 4)`)
	m, err := cluster.MergeRows(ctx, e.live, e.staging, orders(), cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables[0].Inserted != 2 {
		t.Fatalf("inserted %d, want 2", m.Tables[0].Inserted)
	}
	e.exec(`INSERT INTO public.order_items (id, order_id, qty) VALUES (77, 4, 1)`)
	_, err = cluster.UnmergeRows(ctx, e.live, []cluster.UnmergeTable{{Table: orders()[0].Table, KeyColumns: m.Tables[0].KeyColumns, Keys: m.Tables[0].Keys}}, m.XID, cluster.MergeOptions{})
	var re *cluster.ReferencedError
	if !errors.As(err, &re) || len(re.Refs) != 1 || !strings.Contains(re.Refs[0], "public.order_items row id=77 references public.orders id=4") {
		t.Fatalf("want the rollback refused naming item 77 -> order 4, got %v", err)
	}
	if n := e.one(`SELECT count(*) FROM public.orders`); n != 10 {
		t.Fatalf("orders: %d rows, want 10 (nothing deleted)", n)
	}
	if n := e.one(`SELECT count(*) FROM public.order_items`); n != 1 {
		t.Fatalf("the referencing item is gone")
	}
}

// TestMergeRowsForeignKeyOrderAndLimits: a customer and its orders deleted
// come back with the tables named children first (they are merged parents
// first); listed keys and a filter limit what comes back; a unique key held
// by another live row skips the row, counted.
func TestMergeRowsForeignKeyOrderAndLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMergeEnv(t, mergeSchema, `
INSERT INTO public.customers (name) SELECT 'c' || g FROM generate_series(1, 5) g;
INSERT INTO public.orders (customer_id, note, amount) SELECT 1 + g % 5, 'n' || g, g FROM generate_series(1, 50) g;`)
	e.exec(`DELETE FROM public.orders WHERE customer_id IN (3, 4)`)
	e.exec(`DELETE FROM public.customers WHERE id IN (3, 4)`)
	e.exec(`INSERT INTO public.customers (id, name) VALUES (99, 'c4')`) // holds customer 4's unique name
	tables := []cluster.MergeTable{{Table: cluster.Table{Schema: "public", Name: "orders"}}, {Table: cluster.Table{Schema: "public", Name: "customers"}}}
	// Customer 4 cannot come back (its name is taken), so its orders
	// cannot: the whole merge fails, nothing changed.
	_, err := cluster.MergeRows(ctx, e.live, e.staging, tables, cluster.MergeOptions{})
	if err == nil || !strings.Contains(err.Error(), "points at a row that is missing live") {
		t.Fatalf("want the merge refused for orders of a customer that cannot come back, got %v", err)
	}
	if n := e.one(`SELECT count(*) FROM public.customers`); n != 4 {
		t.Fatalf("customers: %d rows after a failed merge, want 4", n)
	}
	m, err := cluster.MergeRows(ctx, e.live, e.staging, tables[1:], cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables[0].Inserted != 1 || m.Tables[0].OtherKey != 1 {
		t.Fatalf("customers: %+v", m.Tables[0])
	}
	e.exec(`DELETE FROM public.customers WHERE id IN (3, 99)`)
	m, err = cluster.MergeRows(ctx, e.live, e.staging, tables, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables[0].Table != "public.customers" || m.Tables[0].Inserted != 2 || m.Tables[1].Inserted != 20 {
		t.Fatalf("report %+v", m.Tables)
	}

	// Listed keys.
	e.exec(`DELETE FROM public.orders WHERE id <= 10`)
	m, err = cluster.MergeRows(ctx, e.live, e.staging, []cluster.MergeTable{{Table: tables[0].Table, Keys: []string{"2", "5", "007"}}}, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables[0].Inserted != 3 || !slices.Equal(e.ints(`SELECT id FROM public.orders WHERE id <= 10 ORDER BY 1`), []int64{2, 5, 7}) {
		t.Fatalf("keys limit: %+v", m.Tables[0])
	}
	// A filter: amount >= 9 brings back 9 and 10 only.
	m, err = cluster.MergeRows(ctx, e.live, e.staging, []cluster.MergeTable{{Table: tables[0].Table, Filter: &cluster.MergeFilter{Column: "amount", Op: "ge", Value: "9"}}}, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables[0].Inserted != 2 || !slices.Equal(e.ints(`SELECT id FROM public.orders WHERE id <= 10 ORDER BY 1`), []int64{2, 5, 7, 9, 10}) {
		t.Fatalf("filter limit: %+v", m.Tables[0])
	}
	// A key that is not of the key's type is refused with the reason.
	if _, err := cluster.MergeRows(ctx, e.live, e.staging, []cluster.MergeTable{{Table: tables[0].Table, Keys: []string{"1 OR true"}}}, cluster.MergeOptions{}); err == nil || !strings.Contains(err.Error(), "invalid input syntax") {
		t.Fatalf("want a bad key refused, got %v", err)
	}
}

// TestMergeRowsRefusesTableWithoutKey: no primary key, no undelete.
func TestMergeRowsRefusesTableWithoutKey(t *testing.T) {
	t.Parallel()
	e := newMergeEnv(t, mergeSchema, `INSERT INTO public.nokey VALUES (1, 'x');`)
	_, err := cluster.MergeRows(context.Background(), e.live, e.staging, []cluster.MergeTable{{Table: cluster.Table{Schema: "public", Name: "nokey"}}}, cluster.MergeOptions{})
	var nk *cluster.NoPrimaryKeyError
	if !errors.As(err, &nk) || !strings.Contains(err.Error(), "public.nokey has no primary key") {
		t.Fatalf("want NoPrimaryKeyError, got %v", err)
	}
}

// hostileSchema has a schema, table and columns whose names are SQL.
const hostileSchema = `
CREATE SCHEMA "s; DROP TABLE public.victim; --";
CREATE TABLE "s; DROP TABLE public.victim; --"."t"" (x) ; --" (
	"id"") OR 1=1; --" int PRIMARY KEY,
	"v'); DELETE FROM public.victim; --" text);
CREATE TABLE public.victim (x int);
INSERT INTO public.victim VALUES (1);
`

// TestMergeRowsHostileNames: names from the dump and from the filter form
// that are SQL stay names; a filter value that is SQL is a value; a filter
// column or operator the table does not have is refused before any change.
func TestMergeRowsHostileNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMergeEnv(t, hostileSchema, `INSERT INTO "s; DROP TABLE public.victim; --"."t"" (x) ; --" SELECT g, 'v' || g FROM generate_series(1, 20) g;`)
	tb := cluster.Table{Schema: "s; DROP TABLE public.victim; --", Name: `t" (x) ; --`}
	q := tb.Quoted()
	e.exec(`DELETE FROM ` + q)
	col := `v'); DELETE FROM public.victim; --`
	m, err := cluster.MergeRows(ctx, e.live, e.staging, []cluster.MergeTable{{Table: tb, Filter: &cluster.MergeFilter{Column: col, Op: "eq", Value: "v1' OR '1'='1"}}}, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables[0].Inserted != 0 {
		t.Fatalf("a filter value of SQL matched %d rows", m.Tables[0].Inserted)
	}
	m, err = cluster.MergeRows(ctx, e.live, e.staging, []cluster.MergeTable{{Table: tb, Filter: &cluster.MergeFilter{Column: col, Op: "like", Value: "v1%"}}}, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables[0].Inserted != 11 || m.Tables[0].KeyColumns[0] != `id") OR 1=1; --` {
		t.Fatalf("like filter: %+v", m.Tables[0])
	}
	for _, f := range []cluster.MergeFilter{
		{Column: "v; DROP TABLE public.victim", Op: "eq", Value: "1"},
		{Column: col, Op: "= '' OR true; --", Value: "1"},
	} {
		if _, err := cluster.MergeRows(ctx, e.live, e.staging, []cluster.MergeTable{{Table: tb, Filter: &f}}, cluster.MergeOptions{}); err == nil {
			t.Fatalf("filter %+v accepted", f)
		}
	}
	m, err = cluster.MergeRows(ctx, e.live, e.staging, []cluster.MergeTable{{Table: tb}}, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tables[0].Inserted != 9 || e.one(`SELECT count(*) FROM `+q) != 20 {
		t.Fatalf("whole merge: %+v", m.Tables[0])
	}
	if e.one(`SELECT count(*) FROM public.victim`) != 1 {
		t.Fatal("public.victim changed")
	}
}

// TestMergeRowsTypesWithoutEquality: a json column has no equality
// operator; rows are then compared by their text, and a changed one is
// still a conflict.
func TestMergeRowsTypesWithoutEquality(t *testing.T) {
	t.Parallel()
	e := newMergeEnv(t, `CREATE TABLE public.docs (id int PRIMARY KEY, body json, at point);`,
		`INSERT INTO public.docs SELECT g, json_build_object('g', g), point(g, g) FROM generate_series(1, 3) g;`)
	e.exec(`DELETE FROM public.docs WHERE id = 1`)
	e.exec(`UPDATE public.docs SET body = '{"g": "changed"}' WHERE id = 2`)
	m, err := cluster.MergeRows(context.Background(), e.live, e.staging, []cluster.MergeTable{{Table: cluster.Table{Schema: "public", Name: "docs"}}}, cluster.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Tables[0]; got.Inserted != 1 || got.Conflicts != 1 || got.Unchanged != 1 || got.ConflictSamples[0] != "id=2" {
		t.Fatalf("report %+v", got)
	}
}

// TestMergeRowsWaitsForLocks: a session writing to the table holds the
// merge off; each failed attempt is reported (lock_timeout, retried), and
// the merge goes through once the writer commits, counting its row.
func TestMergeRowsWaitsForLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMergeEnv(t, mergeSchema, `INSERT INTO public.customers (name) SELECT 'c' || g FROM generate_series(1, 10) g;`)
	e.exec(`DELETE FROM public.customers WHERE id > 5`)
	writer, err := e.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback(ctx) //nolint:errcheck
	if _, err := writer.Exec(ctx, `INSERT INTO public.customers (id, name) VALUES (6, 'written meanwhile')`); err != nil {
		t.Fatal(err)
	}
	var waits []cluster.LockWait
	m, err := cluster.MergeRows(ctx, e.live, e.staging, []cluster.MergeTable{{Table: cluster.Table{Schema: "public", Name: "customers"}}}, cluster.MergeOptions{
		LockTimeout: 100 * time.Millisecond, LockWait: time.Minute,
		OnLockWait: func(w cluster.LockWait) {
			waits = append(waits, w)
			if len(waits) == 2 {
				if err := writer.Commit(ctx); err != nil {
					t.Error(err)
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(waits) != 2 || waits[0].Holders != 1 {
		t.Fatalf("lock waits %+v", waits)
	}
	if got := m.Tables[0]; got.Inserted != 4 || got.Conflicts != 1 {
		t.Fatalf("report %+v: the row written meanwhile is a conflict, the other 4 come back", got)
	}
}
