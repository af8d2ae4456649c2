package compare_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/testenv"
)

// pair is a "live" and a "snapshot" database on the project cluster, each
// set up with the same SQL and then its own.
func pair(t testing.TB, common, live, snap string) (*pgx.Conn, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	open := func(extra string) *pgx.Conn {
		conn, err := pgx.Connect(ctx, testenv.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(ctx, common+";"+extra); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	return open(live), open(snap)
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestTableReportsExactlyTheChangedKeys: since the snapshot, live deleted
// rows 5 and 700, inserted 1001 and 1002 and updated 10 and 999; the
// comparison reports exactly those keys, and nothing else.
func TestTableReportsExactlyTheChangedKeys(t *testing.T) {
	t.Parallel()
	live, snap := pair(t, `CREATE TABLE public.orders (id bigint PRIMARY KEY, note text, amount numeric);
		INSERT INTO public.orders SELECT g, 'order ' || g, g * 1.5 FROM generate_series(1, 1000) g`,
		`DELETE FROM public.orders WHERE id IN (5, 700);
		INSERT INTO public.orders VALUES (1001, 'new', 1), (1002, NULL, NULL);
		UPDATE public.orders SET note = 'changed' WHERE id = 10;
		UPDATE public.orders SET amount = NULL WHERE id = 999`, ``)
	for _, serverHash := range []bool{false, true} {
		r, err := compare.Table(context.Background(), live, snap, "public", "orders", compare.Options{ServerHash: serverHash})
		if err != nil {
			t.Fatal(err)
		}
		checkChanged(t, r)
	}
	// Samples stop at the limit; counts do not.
	r, err := compare.Table(context.Background(), live, snap, "public", "orders", compare.Options{Samples: 1})
	if err != nil || r.OnlyLive.Count != 2 || len(r.OnlyLive.Samples) != 1 {
		t.Errorf("one sample: %+v %v", r.OnlyLive, err)
	}
}

func checkChanged(t *testing.T, r compare.Result) {
	t.Helper()
	if r.WholeRow || !slices.Equal(r.Key, []string{"id"}) || len(r.Schema) != 0 {
		t.Fatalf("result: %+v", r)
	}
	check := func(what string, d compare.Diff, want ...string) {
		t.Helper()
		if d.Count != int64(len(want)) || !slices.Equal(d.Samples, want) {
			t.Errorf("%s: %+v, want %q", what, d, want)
		}
	}
	check("only live (lost by a restore)", r.OnlyLive, "id=1001", "id=1002")
	check("only snapshot (brought back)", r.OnlySnapshot, "id=5", "id=700")
	check("differ", r.Differ, "id=10", "id=999")
	if r.Same != 1000-4 {
		t.Errorf("same %d", r.Same)
	}
}

// TestTableTextAndCompositeKeys: text keys that collations order
// differently from bytes, and keys holding tabs, newlines and backslashes
// (escaped by COPY), merge correctly; composite keys name every column.
func TestTableTextAndCompositeKeys(t *testing.T) {
	t.Parallel()
	live, snap := pair(t, `CREATE TABLE public.kv (a text, b int, v text, PRIMARY KEY (a, b));
		INSERT INTO public.kv VALUES ('a', 1, 'x'), ('B', 1, 'x'), ('b', 2, 'x'), (E'tab\there', 1, 'x'),
			(E'back\\slash', 1, 'x'), (E'new\nline', 1, 'x'), ('Zürich', 1, 'x'), ('zebra', 10, 'x'), ('zebra', 9, 'x')`,
		`DELETE FROM public.kv WHERE a = E'tab\there';
		UPDATE public.kv SET v = 'y' WHERE a = E'back\\slash';
		INSERT INTO public.kv VALUES ('Zürich', 2, 'x')`,
		`DELETE FROM public.kv WHERE a = 'zebra' AND b = 9`)
	r, err := compare.Table(context.Background(), live, snap, "public", "kv", compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.OnlyLive.Samples, sorted([]string{"a=Zürich, b=2", "a=zebra, b=9"})) ||
		!slices.Equal(r.OnlySnapshot.Samples, []string{"a=tab\there, b=1"}) ||
		!slices.Equal(r.Differ.Samples, []string{"a=back\\slash, b=1"}) || r.Same != 6 {
		t.Errorf("result: %+v", r)
	}
}

// TestTableWithoutPrimaryKey: rows are matched by their content as a
// multiset (a duplicate row counts twice) and the result says so.
func TestTableWithoutPrimaryKey(t *testing.T) {
	t.Parallel()
	live, snap := pair(t, `CREATE TABLE public.log (at int, msg text);
		INSERT INTO public.log VALUES (1, 'a'), (2, 'b'), (2, 'b'), (3, 'c')`,
		`DELETE FROM public.log WHERE at = 3; INSERT INTO public.log VALUES (4, 'd'), (2, 'b')`, ``)
	r, err := compare.Table(context.Background(), live, snap, "public", "log", compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.WholeRow || len(r.Key) != 0 || !strings.Contains(r.Note(), "whole-row hash") {
		t.Fatalf("result: %+v", r)
	}
	if r.OnlyLive.Count != 2 || r.OnlySnapshot.Count != 1 || r.Differ.Count != 0 || r.Same != 3 {
		t.Errorf("counts: %+v", r)
	}
	if !strings.HasPrefix(r.OnlySnapshot.Samples[0], "row md5 ") {
		t.Errorf("sample: %q", r.OnlySnapshot.Samples)
	}
}

// TestTableSchemaDifferences: columns only on one side or of another type
// are listed, and rows are compared over the columns both have alike; a
// table missing on one side counts all its rows on the other.
func TestTableSchemaDifferences(t *testing.T) {
	t.Parallel()
	live, snap := pair(t, `CREATE TABLE public.u (id uuid PRIMARY KEY, name text)`,
		`ALTER TABLE public.u ADD COLUMN extra int, ADD COLUMN kind varchar(10);
		INSERT INTO public.u VALUES ('00000000-0000-0000-0000-000000000001', 'one', 7, 'k'), ('ffffffff-0000-0000-0000-000000000000', 'two', 8, 'k');
		CREATE TABLE public.only_live (id int PRIMARY KEY); INSERT INTO public.only_live VALUES (1), (2)`,
		`ALTER TABLE public.u ADD COLUMN kind text;
		INSERT INTO public.u VALUES ('00000000-0000-0000-0000-000000000001', 'one', 'other'), ('0f000000-0000-0000-0000-000000000000', 'three', NULL)`)
	ctx := context.Background()
	r, err := compare.Table(ctx, live, snap, "public", "u", compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := []string{"column extra (integer): only live", "column kind: character varying(10) live, text snapshot"}
	if !slices.Equal(r.Schema, wantSchema) {
		t.Errorf("schema: %q, want %q", r.Schema, wantSchema)
	}
	if r.Same != 1 || r.Differ.Count != 0 || !slices.Equal(r.OnlyLive.Samples, []string{"id=ffffffff-0000-0000-0000-000000000000"}) ||
		!slices.Equal(r.OnlySnapshot.Samples, []string{"id=0f000000-0000-0000-0000-000000000000"}) {
		t.Errorf("rows: %+v", r)
	}
	r, err = compare.Table(ctx, live, snap, "public", "only_live", compare.Options{})
	if err != nil || !r.MissingSnapshot || r.OnlyLive.Count != 2 || r.Same != 0 {
		t.Errorf("missing in snapshot: %+v %v", r, err)
	}
	if _, err := compare.Table(ctx, live, snap, "public", "nowhere", compare.Options{}); err == nil {
		t.Error("a table on neither side compared")
	}
}

// TestTableHostileNames: schema, table and column names holding quotes,
// semicolons and spaces are quoted, never spliced: the comparison works and
// nothing else runs.
func TestTableHostileNames(t *testing.T) {
	t.Parallel()
	live, snap := pair(t, `CREATE SCHEMA "we""ird; s";
		CREATE TABLE "we""ird; s"."t"" ; DROP TABLE x; --" ("k""ey" text PRIMARY KEY, "v; DROP" int);
		CREATE TABLE public.x (i int);
		INSERT INTO "we""ird; s"."t"" ; DROP TABLE x; --" VALUES ('a', 1), ('b"''c', 2)`,
		`UPDATE "we""ird; s"."t"" ; DROP TABLE x; --" SET "v; DROP" = 3 WHERE "k""ey" = 'a'`, ``)
	ctx := context.Background()
	r, err := compare.Table(ctx, live, snap, `we"ird; s`, `t" ; DROP TABLE x; --`, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Same != 1 || !slices.Equal(r.Differ.Samples, []string{`k"ey=a`}) {
		t.Errorf("result: %+v", r)
	}
	for _, c := range []*pgx.Conn{live, snap} {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'x'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("public.x: %d %v", n, err)
		}
	}
}

// TestTableLostConnection: a side whose session is terminated mid-stream
// fails the comparison with an error (no partial result is passed off as
// whole, nothing hangs).
func TestTableLostConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	live, snap := pair(t, `CREATE TABLE public.big (id bigint PRIMARY KEY, pad text);
		INSERT INTO public.big SELECT g, repeat('x', 200) FROM generate_series(1, 300000) g`, ``, ``)
	var pid uint32
	if err := snap.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := compare.Table(ctx, live, snap, "public", "big", compare.Options{})
		done <- err
	}()
	// Terminate the snapshot side once its COPY is running.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var killed bool
		err := admin.QueryRow(ctx, `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
			WHERE pid = $1 AND query LIKE 'COPY (SELECT%'`, int(pid)).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		if killed {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the comparison ended before its session could be cut (make the table bigger): %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the snapshot side's COPY never showed up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a comparison whose side was cut reported success")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the comparison hangs after losing a side")
	}
}
