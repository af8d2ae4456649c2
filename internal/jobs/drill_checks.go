package jobs

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/snapshots"
)

// amcheckSchema holds the amcheck extension a drill creates in its scratch
// copy: a schema of the admin's, so the customer's objects cannot stand in
// for its functions.
const amcheckSchema = "portal_drill_amcheck"

// drillChecked is what the checks of a restored copy counted.
type drillChecked struct {
	tables, indexes, fks int
	rows                 int64
	notes                []string
}

// check verifies the restored copy scratch: every table's row count equals
// the inventory, every B-tree index passes amcheck's bt_index_check (where
// the extension is available), no index is invalid, and every foreign key
// holds. The portal's SQL runs as the owner role, so customer code it
// reaches (an operator class's comparison function, a foreign key's
// triggers) runs with the customer's rights only.
func (r *drillRun) check(ctx context.Context, scratch, owner string) (drillChecked, error) {
	var c drillChecked
	inv, err := snapshots.SnapshotTables(ctx, r.d.Pool, r.snap.ID)
	if err != nil {
		return c, fmt.Errorf("inventory of snapshot %d: %w", r.snap.ID, err)
	}
	amcheck, note, err := r.installAmcheck(ctx, scratch, owner)
	if err != nil {
		return c, err
	}
	if note != "" {
		c.notes = append(c.notes, note)
	}
	conns, closeConns, err := r.ownerConns(ctx, scratch, owner)
	if err != nil {
		return c, err
	}
	defer closeConns()
	conn := conns[0]
	var bad []string
	b, err := r.checkCounts(ctx, conns, inv, &c)
	if err != nil {
		return c, err
	}
	bad = append(bad, b...)
	b, err = r.checkIndexes(ctx, conns, amcheck, &c)
	if err != nil {
		return c, err
	}
	bad = append(bad, b...)
	b, err = r.checkForeignKeys(ctx, conn, &c)
	if err != nil {
		return c, err
	}
	bad = append(bad, b...)
	if len(bad) > 0 {
		return c, fmt.Errorf("the restored copy does not hold up: %s", strings.Join(bad, "; "))
	}
	return c, nil
}

// checkCounts counts every inventory table with data in the copy. A table
// whose row security is forced on its owner cannot be counted by the owner
// without the policies filtering; it is noted (its COPY count was checked by
// the restore engine).
func (r *drillRun) checkCounts(ctx context.Context, conns []*pgx.Conn, inv []snapshots.Table, c *drillChecked) ([]string, error) {
	rows, err := conns[0].Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relforcerowsecurity AND c.relrowsecurity`)
	if err != nil {
		return nil, err
	}
	forced := map[extract.QualifiedName]bool{}
	names, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (extract.QualifiedName, error) {
		var q extract.QualifiedName
		err := r.Scan(&q.Schema, &q.Name)
		return q, err
	})
	if err != nil {
		return nil, err
	}
	for _, q := range names {
		forced[q] = true
	}
	var todo []snapshots.Table
	for _, t := range inv {
		if !t.HasData {
			continue
		}
		q := extract.QualifiedName{Schema: t.Schema, Name: t.Name}
		if forced[q] {
			c.notes = append(c.notes, fmt.Sprintf("%s forces row level security on its owner: its rows were counted by the restore's COPY check only", q))
			continue
		}
		todo = append(todo, t)
	}
	counts := make([]int64, len(todo))
	errs := make([]error, len(todo))
	err = parallel(ctx, conns, len(todo), func(ctx context.Context, conn *pgx.Conn, i int) error {
		t := todo[i]
		errs[i] = conn.QueryRow(ctx, "SELECT count(*) FROM ONLY "+pgx.Identifier{t.Schema, t.Name}.Sanitize()).Scan(&counts[i])
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	var bad []string
	for i, t := range todo {
		q := extract.QualifiedName{Schema: t.Schema, Name: t.Name}
		if errs[i] != nil {
			bad = append(bad, fmt.Sprintf("%s could not be counted: %v", q, errs[i]))
			continue
		}
		c.tables++
		c.rows += counts[i]
		if counts[i] != t.Rows {
			bad = append(bad, fmt.Sprintf("%s has %d rows in the restored copy, the verified snapshot's inventory has %d", q, counts[i], t.Rows))
		}
	}
	return bad, nil
}

// installAmcheck creates amcheck in the scratch copy, in a schema of its
// own, and lets owner run bt_index_check. ok is false (with a note) when the
// cluster has no amcheck.
func (r *drillRun) installAmcheck(ctx context.Context, scratch, owner string) (ok bool, note string, err error) {
	conn, err := r.cl.Connect(ctx, scratch)
	if err != nil {
		return false, "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var available bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck')`).Scan(&available); err != nil {
		return false, "", err
	}
	if !available {
		return false, fmt.Sprintf("amcheck is not installed on cluster %s (the postgresql-contrib package): B-tree indexes were not checked", r.cl.Name()), nil
	}
	var have bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck')`).Scan(&have); err != nil {
		return false, "", err
	}
	if have {
		// The dump made it (as the admin, allowlisted): a second copy cannot
		// be installed; its functions are checked for where they live.
		return false, "the snapshot installs amcheck itself: B-tree indexes were not checked by the drill", nil
	}
	schema := pgx.Identifier{amcheckSchema}.Sanitize()
	role := pgx.Identifier{owner}.Sanitize()
	for _, stmt := range []string{
		"CREATE SCHEMA " + schema,
		"CREATE EXTENSION amcheck WITH SCHEMA " + schema,
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT EXECUTE ON FUNCTION " + schema + ".bt_index_check(regclass, boolean) TO " + role,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return false, "", fmt.Errorf("install amcheck in %s: %w", scratch, err)
		}
	}
	return true, "", nil
}

// checkIndexes refuses invalid indexes and runs bt_index_check on every
// B-tree index (amcheck true) with heapallindexed: beyond the index's own
// structure, every heap tuple must have its index entry, which catches an
// index built with a function that is not the one the copy has now (a
// mislabelled IMMUTABLE function, a changed collation).
func (r *drillRun) checkIndexes(ctx context.Context, conns []*pgx.Conn, amcheck bool, c *drillChecked) ([]string, error) {
	rows, err := conns[0].Query(ctx, `SELECT c.oid::int8, format('%I.%I', n.nspname, c.relname), i.indisvalid AND i.indisready
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_am am ON am.oid = c.relam
		WHERE am.amname = 'btree' AND c.relkind = 'i' AND c.relpersistence <> 't'
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) AND n.nspname NOT LIKE 'pg\_toast%'
		ORDER BY 2`, amcheckSchema)
	if err != nil {
		return nil, err
	}
	type index struct {
		oid   int64
		name  string
		valid bool
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var i index
		err := r.Scan(&i.oid, &i.name, &i.valid)
		return i, err
	})
	if err != nil {
		return nil, err
	}
	var bad []string
	var todo []index
	for _, i := range list {
		if !i.valid {
			bad = append(bad, fmt.Sprintf("index %s is invalid", i.name))
		} else if amcheck {
			todo = append(todo, i)
		}
	}
	check := "SELECT " + pgx.Identifier{amcheckSchema, "bt_index_check"}.Sanitize() + "($1::oid::regclass, true)"
	errs := make([]error, len(todo))
	err = parallel(ctx, conns, len(todo), func(ctx context.Context, conn *pgx.Conn, i int) error {
		_, errs[i] = conn.Exec(ctx, check, todo[i].oid)
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	for i, x := range todo {
		if errs[i] != nil {
			bad = append(bad, fmt.Sprintf("index %s fails amcheck: %v", x.name, errs[i]))
			continue
		}
		c.indexes++
	}
	return bad, nil
}

// ownerConns opens the check's connections to scratch acting as owner:
// PORTAL_APPLY_JOBS of them (one per CPU by default), through one
// short-lived login role (cluster.Session).
func (r *drillRun) ownerConns(ctx context.Context, scratch, owner string) ([]*pgx.Conn, func(), error) {
	s, err := r.cl.OwnerSession(ctx, scratch, owner)
	if err != nil {
		return nil, nil, err
	}
	n := r.d.Config.Worker.ApplyJobs
	if n <= 0 {
		n = runtime.NumCPU()
	}
	var conns []*pgx.Conn
	closeAll := func() {
		ctx := context.WithoutCancel(ctx)
		for _, c := range conns {
			c.Close(ctx)
		}
		if err := s.Close(ctx); err != nil {
			r.log.Error("could not drop the drill's login role", "role", s.Login(), "err", err)
		}
	}
	for i := 0; i < min(n, 8); i++ {
		c, err := s.Connect(ctx)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns = append(conns, c)
	}
	return conns, closeAll, nil
}

// parallel runs task for 0..n-1, each connection running one task at a
// time; it returns the first error a task returns (tasks record their own
// per-item errors).
func parallel(ctx context.Context, conns []*pgx.Conn, n int, task func(ctx context.Context, conn *pgx.Conn, i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := task(ctx, conn, i); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return cmp.Or(first, ctx.Err())
}

// checkForeignKeys counts the foreign keys: those the restore added were
// validated as they were added; one the dump marked NOT VALID is validated
// now, and one that does not hold is noted (the live database may hold the
// same rows: NOT VALID is the customer's choice).
func (r *drillRun) checkForeignKeys(ctx context.Context, conn *pgx.Conn, c *drillChecked) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT conrelid::regclass::text, conname, convalidated FROM pg_constraint
		WHERE contype = 'f' AND connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)`)
	if err != nil {
		return nil, err
	}
	type fk struct {
		table, name string
		valid       bool
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fk, error) {
		var f fk
		err := r.Scan(&f.table, &f.name, &f.valid)
		return f, err
	})
	if err != nil {
		return nil, err
	}
	var notes []string
	for _, f := range list {
		c.fks++
		if f.valid {
			continue
		}
		if _, err := conn.Exec(ctx, "ALTER TABLE "+f.table+" VALIDATE CONSTRAINT "+pgx.Identifier{f.name}.Sanitize()); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			notes = append(notes, fmt.Sprintf("foreign key %s on %s is NOT VALID in the snapshot and does not hold: %v", f.name, f.table, err))
		}
	}
	sort.Strings(notes)
	c.notes = append(c.notes, notes...)
	return nil, nil
}
