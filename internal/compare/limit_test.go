package compare_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/testenv"
)

// limitPair: the snapshot has rows 1..100 (status 'gone' for ids 1..10, else
// 'ok'); live deleted 1..5 and 50, changed 7 and 60, and wrote 101.
func limitPair(t *testing.T) (*pgx.Conn, *pgx.Conn) {
	return pair(t, `CREATE TABLE public.items (id bigint PRIMARY KEY, status text, n int, g int GENERATED ALWAYS AS (n * 2) STORED);
		INSERT INTO public.items (id, status, n) SELECT i, CASE WHEN i <= 10 THEN 'gone' ELSE 'ok' END, i FROM generate_series(1, 100) i`,
		`DELETE FROM public.items WHERE id IN (1, 2, 3, 4, 5, 50);
		UPDATE public.items SET n = -1 WHERE id IN (7, 60);
		INSERT INTO public.items (id, status, n) VALUES (101, 'new', 0)`, ``)
}

// TestTableLimitedToKeysAndFilter: an undelete's dry run counts, among only
// the snapshot rows its limit names, those missing live (inserted), those
// live with other content (conflicts) and the identical ones; a filter is
// applied to the snapshot's rows only (a row changed live so that it no
// longer matches is still a conflict, not an insert).
func TestTableLimitedToKeysAndFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	live, snap := limitPair(t)
	cases := []struct {
		name                 string
		limit                compare.Limit
		insert, differ, same []string
		sameCount            int64
	}{
		{"keys", compare.Limit{Keys: []string{"3", "7", "8", "50", "999"}},
			[]string{"id=3", "id=50"}, []string{"id=7"}, nil, 1},
		{"filter eq", compare.Limit{Column: "status", Op: "eq", Value: "gone"},
			[]string{"id=1", "id=2", "id=3", "id=4", "id=5"}, []string{"id=7"}, nil, 4},
		{"filter ge on a number", compare.Limit{Column: "n", Op: "ge", Value: "50"},
			[]string{"id=50"}, []string{"id=60"}, nil, 49},
		{"like", compare.Limit{Column: "status", Op: "like", Value: "go%"},
			[]string{"id=1", "id=2", "id=3", "id=4", "id=5"}, []string{"id=7"}, nil, 4},
	}
	for _, c := range cases {
		r, err := compare.Table(ctx, live, snap, "public", "items", compare.Options{Limit: &c.limit})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(r.OnlySnapshot.Samples, c.insert) || r.OnlySnapshot.Count != int64(len(c.insert)) ||
			!slices.Equal(r.Differ.Samples, c.differ) || r.Same != c.sameCount || r.Limited == "" {
			t.Errorf("%s: insert %+v differ %+v same %d limited %q", c.name, r.OnlySnapshot, r.Differ, r.Same, r.Limited)
		}
	}
}

// TestTableLimitHostile: a filter value or listed key that is SQL stays a
// value (it matches nothing, or fails its cast); a column that is not the
// table's, a generated column or an operator off the list is refused before
// anything is read; nothing else runs on either side.
func TestTableLimitHostile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	live, snap := limitPair(t)
	r, err := compare.Table(ctx, live, snap, "public", "items", compare.Options{
		Limit: &compare.Limit{Column: "status", Op: "eq", Value: `gone' OR '1'='1'); DROP TABLE public.items; --`}})
	if err != nil || r.OnlySnapshot.Count != 0 || r.Differ.Count != 0 || r.Same != 0 {
		t.Errorf("hostile value: %+v %v", r, err)
	}
	r, err = compare.Table(ctx, live, snap, "public", "items", compare.Options{
		Limit: &compare.Limit{Column: "status", Op: "like", Value: `\' OR true --`}})
	if err != nil || r.OnlySnapshot.Count != 0 {
		t.Errorf("hostile like: %+v %v", r, err)
	}
	if _, err := compare.Table(ctx, live, snap, "public", "items", compare.Options{
		Limit: &compare.Limit{Keys: []string{"1 OR true", "2"}}}); err == nil || !strings.Contains(err.Error(), "invalid input syntax") {
		t.Errorf("SQL as a key: %v", err)
	}
	for _, l := range []compare.Limit{
		{Column: `status = status OR true; --`, Op: "eq", Value: "x"},
		{Column: "g", Op: "eq", Value: "2"},
		{Column: "status", Op: "= 'x' OR true --", Value: "x"},
		{Keys: []string{"1"}, Column: "status", Op: "eq"},
	} {
		if _, err := compare.Table(ctx, live, snap, "public", "items", compare.Options{Limit: &l}); err == nil {
			t.Errorf("limit %+v accepted", l)
		}
	}
	for _, c := range []*pgx.Conn{live, snap} {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM public.items`).Scan(&n); err != nil || n < 94 {
			t.Errorf("items: %d %v", n, err)
		}
	}
}

// TestTableForcedRowSecurityFailsClosed: as its owner, a table with FORCE
// ROW LEVEL SECURITY shows only the rows its policy allows; the comparison
// refuses it (RowSecurityError) instead of comparing the filtered view, and
// leaves the session's row_security as it was. Without FORCE the owner sees
// every row and the comparison works.
func TestTableForcedRowSecurityFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(extra string) *pgx.Conn {
		db := testenv.NewOwnedDatabase(t)
		conn, err := pgx.Connect(ctx, testenv.RoleURL(t, db.Name, db.Owner))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(ctx, `CREATE TABLE public.secret (id int PRIMARY KEY, tenant int);
			INSERT INTO public.secret SELECT i, i % 3 FROM generate_series(1, 30) i;
			ALTER TABLE public.secret ENABLE ROW LEVEL SECURITY;
			CREATE POLICY only_tenant_0 ON public.secret USING (tenant = 0);`+extra); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	live := open(`DELETE FROM public.secret WHERE id = 1`) // tenant 1: hidden by the policy
	snap := open(``)
	r, err := compare.Table(ctx, live, snap, "public", "secret", compare.Options{})
	if err != nil || r.OnlySnapshot.Count != 1 || r.Same != 29 {
		t.Fatalf("without FORCE the owner sees every row: %+v %v", r, err)
	}
	if _, err := live.Exec(ctx, `ALTER TABLE public.secret FORCE ROW LEVEL SECURITY`); err != nil {
		t.Fatal(err)
	}
	var visible int
	if err := live.QueryRow(ctx, `SELECT count(*) FROM public.secret`).Scan(&visible); err != nil || visible != 10 {
		t.Fatalf("fixture: the owner sees %d rows under FORCE (%v)", visible, err)
	}
	_, err = compare.Table(ctx, live, snap, "public", "secret", compare.Options{})
	var rse *compare.RowSecurityError
	if !errors.As(err, &rse) || rse.Table != "public.secret" || !strings.Contains(err.Error(), "FORCE ROW LEVEL SECURITY") {
		t.Fatalf("forced row security: %v", err)
	}
	var setting string
	if err := live.QueryRow(ctx, `SHOW row_security`).Scan(&setting); err != nil || setting != "on" {
		t.Errorf("row_security left %q (%v)", setting, err)
	}
}

// TestDatabaseComparesEveryTable: a full restore's review lists every table
// of both sides in name order: a changed one with its keys, one only live
// (the restore removes it), one only in the snapshot (it comes back), and a
// partitioned table by its partitions.
func TestDatabaseComparesEveryTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	live, snap := pair(t, `CREATE TABLE public.a (id int PRIMARY KEY, v text);
		INSERT INTO public.a SELECT g, 'v' || g FROM generate_series(1, 10) g;
		CREATE TABLE public.p (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE public.p1 PARTITION OF public.p FOR VALUES FROM (0) TO (100);
		INSERT INTO public.p SELECT generate_series(1, 20)`,
		`DELETE FROM public.a WHERE id = 3; CREATE TABLE public.only_live (id int); INSERT INTO public.only_live VALUES (1); DELETE FROM public.p WHERE id = 7`,
		`CREATE SCHEMA "we""ird"; CREATE TABLE "we""ird".gone (id int PRIMARY KEY); INSERT INTO "we""ird".gone VALUES (1), (2)`)
	rs, err := compare.Database(ctx, live, snap, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s live-only=%d snap-only=%v differ=%d same=%d missing=%v/%v", r.Table, r.OnlyLive.Count,
			r.OnlySnapshot.Samples, r.Differ.Count, r.Same, r.MissingLive, r.MissingSnapshot))
	}
	want := []string{
		"public.a live-only=0 snap-only=[id=3] differ=0 same=9 missing=false/false",
		"public.only_live live-only=1 snap-only=[] differ=0 same=0 missing=false/true",
		"public.p1 live-only=0 snap-only=[id=7] differ=0 same=19 missing=false/false",
		`we"ird.gone live-only=0 snap-only=[id=1 id=2] differ=0 same=0 missing=true/false`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(rs[1].Note(), "removes the table") || !strings.Contains(rs[3].Note(), "brings the table back") {
		t.Errorf("notes: %q %q", rs[1].Note(), rs[3].Note())
	}
}
