package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/dbx"
	"github.com/restoreportal/portal/internal/drills"
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
	// heapChecked names the indexes checked with heapallindexed.
	heapChecked []string
	rows        int64
	notes       []string
	phases      []drills.Phase
}

// checkTask is one query of the checks: cost orders the work, largest first,
// so the connections finish together; kind names the phase it is timed in.
type checkTask struct {
	kind string
	cost int64
	run  func(ctx context.Context, conn *pgx.Conn)
}

// smallTable is the size under which tables are counted together, many in
// one query: for them the round trip costs more than the scan.
const smallTable = 1 << 20

// check verifies the restored copy: every table's row count equals the
// inventory, every B-tree index passes amcheck's bt_index_check (where the
// extension is available), no index is invalid, and every foreign key holds.
// admin is the admin's connection to the copy (amcheck is installed through
// it); the checks run through sess, as the owner role, so customer code they
// reach (an operator class's comparison function, a foreign key's triggers)
// runs with the customer's rights only. The counts, the index checks and
// the foreign keys are one queue of queries over PORTAL_APPLY_JOBS
// connections, largest first: they only read, and a NOT VALID foreign key's
// validation (SHARE UPDATE EXCLUSIVE) does not conflict with the others'
// ACCESS SHARE locks.
func (r *drillRun) check(ctx context.Context, admin *pgx.Conn, sess *cluster.Session) (c drillChecked, err error) {
	// Three independent starts at once: the inventory (portal), amcheck's
	// install (admin) and the owner's connections (the login role).
	var inv []snapshots.Table
	var invErr, amErr, connErr error
	var amcheck bool
	var note string
	var installed time.Duration
	var conns []*pgx.Conn
	closeConns := func() {}
	var wg sync.WaitGroup
	wg.Go(func() { inv, invErr = snapshots.SnapshotTables(ctx, r.d.Pool, r.snap.ID) })
	wg.Go(func() {
		t0 := time.Now()
		amcheck, note, amErr = r.installAmcheck(ctx, admin, sess.Owner())
		installed = time.Since(t0)
	})
	conns, closeConns, connErr = r.ownerConns(ctx, sess)
	wg.Wait()
	if connErr == nil {
		defer closeConns()
	}
	if invErr != nil {
		return c, fmt.Errorf("inventory of snapshot %d: %w", r.snap.ID, invErr)
	}
	if err := cmp.Or(amErr, connErr); err != nil {
		return c, err
	}
	if note != "" {
		c.notes = append(c.notes, note)
	}
	// The three plans' catalog queries, over the connections.
	var counts *countPlan
	var indexes *indexPlan
	var fks *fkPlan
	err = parallel(ctx, conns, 3, func(ctx context.Context, conn *pgx.Conn, i int) (err error) {
		switch i {
		case 0:
			counts, err = r.planCounts(ctx, conn, inv, &c)
		case 1:
			indexes, err = r.planIndexes(ctx, conn, amcheck)
		default:
			fks, err = r.planForeignKeys(ctx, conn)
		}
		return err
	})
	if err != nil {
		return c, err
	}
	tasks := append(append(counts.tasks(), indexes.tasks()...), fks.tasks()...)
	sort.SliceStable(tasks, func(i, j int) bool { return tasks[i].cost > tasks[j].cost })
	spent, err := runChecks(ctx, conns, tasks)
	if err != nil {
		return c, err
	}
	spent[drills.PhaseAmcheck] += installed
	bad := counts.result(&c)
	bad = append(bad, indexes.result(&c)...)
	fks.result(&c)
	for _, k := range []string{drills.PhaseCounts, drills.PhaseAmcheck, drills.PhaseForeignKeys} {
		ph := drills.Phase{Name: k, MS: spent[k].Milliseconds()}
		if k == drills.PhaseAmcheck && amcheck {
			ph.Detail = fmt.Sprintf("heap check %s: %d of %d indexes", indexes.mode, len(c.heapChecked), indexes.checkable())
		}
		c.phases = append(c.phases, ph)
	}
	if len(bad) > 0 {
		return c, fmt.Errorf("the restored copy does not hold up: %s", strings.Join(bad, "; "))
	}
	return c, nil
}

// runChecks runs the tasks over conns, each connection one at a time, and
// returns the time spent per kind (summed over the connections).
func runChecks(ctx context.Context, conns []*pgx.Conn, tasks []checkTask) (map[string]time.Duration, error) {
	var mu sync.Mutex
	spent := map[string]time.Duration{}
	err := parallel(ctx, conns, len(tasks), func(ctx context.Context, conn *pgx.Conn, i int) error {
		t0 := time.Now()
		tasks[i].run(ctx, conn)
		mu.Lock()
		spent[tasks[i].kind] += time.Since(t0)
		mu.Unlock()
		return ctx.Err()
	})
	return spent, err
}

// countPlan counts the inventory's tables with data.
type countPlan struct {
	todo   []snapshots.Table
	size   []int64
	counts []int64
	errs   []error
}

// planCounts lists the inventory tables with data to count. A table whose
// row security is forced on its owner cannot be counted by the owner without
// the policies filtering; it is noted (its COPY count was checked by the
// restore engine).
func (r *drillRun) planCounts(ctx context.Context, conn *pgx.Conn, inv []snapshots.Table, c *drillChecked) (*countPlan, error) {
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname, c.relforcerowsecurity AND c.relrowsecurity, pg_relation_size(c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm')`)
	if err != nil {
		return nil, err
	}
	type rel struct {
		forced bool
		size   int64
	}
	rels, err := dbx.CollectMap(rows, func(r pgx.CollectableRow) (q extract.QualifiedName, x rel, err error) {
		err = r.Scan(&q.Schema, &q.Name, &x.forced, &x.size)
		return q, x, err
	})
	if err != nil {
		return nil, err
	}
	p := &countPlan{}
	for _, t := range inv {
		if !t.HasData {
			continue
		}
		q := extract.QualifiedName{Schema: t.Schema, Name: t.Name}
		x := rels[q]
		if x.forced {
			c.notes = append(c.notes, fmt.Sprintf("%s forces row level security on its owner: its rows were counted by the restore's COPY check only", q))
			continue
		}
		p.todo = append(p.todo, t)
		p.size = append(p.size, x.size)
	}
	p.counts = make([]int64, len(p.todo))
	p.errs = make([]error, len(p.todo))
	return p, nil
}

// tasks counts each large table alone and the small ones up to 200 in one
// query; a query that fails is retried table by table, so that the error is
// the table's.
func (p *countPlan) tasks() []checkTask {
	var tasks []checkTask
	var small []int
	var smallCost int64
	flush := func() {
		if len(small) == 0 {
			return
		}
		batch := small
		tasks = append(tasks, checkTask{kind: drills.PhaseCounts, cost: smallCost, run: func(ctx context.Context, conn *pgx.Conn) {
			p.count(ctx, conn, batch)
		}})
		small, smallCost = nil, 0
	}
	for i := range p.todo {
		if p.size[i] >= smallTable {
			tasks = append(tasks, checkTask{kind: drills.PhaseCounts, cost: p.size[i], run: func(ctx context.Context, conn *pgx.Conn) {
				p.count(ctx, conn, []int{i})
			}})
			continue
		}
		small = append(small, i)
		smallCost += p.size[i]
		if len(small) == 200 {
			flush()
		}
	}
	flush()
	return tasks
}

// count counts the tables at idx in one query.
func (p *countPlan) count(ctx context.Context, conn *pgx.Conn, idx []int) {
	cols := make([]string, len(idx))
	dest := make([]any, len(idx))
	for k, i := range idx {
		t := p.todo[i]
		cols[k] = "(SELECT count(*) FROM ONLY " + pgx.Identifier{t.Schema, t.Name}.Sanitize() + ")"
		dest[k] = &p.counts[i]
	}
	err := conn.QueryRow(ctx, "SELECT "+strings.Join(cols, ", ")).Scan(dest...)
	if err == nil || ctx.Err() != nil {
		for _, i := range idx {
			p.errs[i] = err
		}
		return
	}
	if len(idx) == 1 {
		p.errs[idx[0]] = err
		return
	}
	for _, i := range idx {
		p.count(ctx, conn, []int{i})
	}
}

// result adds the counts to c and says which tables do not match.
func (p *countPlan) result(c *drillChecked) []string {
	var bad []string
	for i, t := range p.todo {
		q := extract.QualifiedName{Schema: t.Schema, Name: t.Name}
		if p.errs[i] != nil {
			bad = append(bad, fmt.Sprintf("%s could not be counted: %v", q, p.errs[i]))
			continue
		}
		c.tables++
		c.rows += p.counts[i]
		if p.counts[i] != t.Rows {
			bad = append(bad, fmt.Sprintf("%s has %d rows in the restored copy, the verified snapshot's inventory has %d", q, p.counts[i], t.Rows))
		}
	}
	return bad
}

// installAmcheck creates amcheck in the scratch copy through the admin's
// connection admin, in a schema of its own, and lets owner run
// bt_index_check. ok is false (with a note) when the cluster has no amcheck.
// That the cluster has it is asked once per cluster and worker.
func (r *drillRun) installAmcheck(ctx context.Context, admin *pgx.Conn, owner string) (ok bool, note string, err error) {
	if _, known := r.amcheck.Load(r.cl.Name()); !known {
		var available bool
		if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck')`).Scan(&available); err != nil {
			return false, "", err
		}
		if !available {
			return false, fmt.Sprintf("amcheck is not installed on cluster %s (the postgresql-contrib package): B-tree indexes were not checked", r.cl.Name()), nil
		}
		r.amcheck.Store(r.cl.Name(), true) // a package once installed stays
	}
	var have bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck')`).Scan(&have); err != nil {
		return false, "", err
	}
	if have {
		// The dump made it (as the admin, allowlisted): a second copy cannot
		// be installed; its functions are checked for where they live.
		return false, "the snapshot installs amcheck itself: B-tree indexes were not checked by the drill", nil
	}
	schema := pgx.Identifier{amcheckSchema}.Sanitize()
	role := pgx.Identifier{owner}.Sanitize()
	// One round trip (the simple protocol runs the statements as one
	// transaction).
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema+"; CREATE EXTENSION amcheck WITH SCHEMA "+schema+
		"; GRANT USAGE ON SCHEMA "+schema+" TO "+role+
		"; GRANT EXECUTE ON FUNCTION "+schema+".bt_index_check(regclass, boolean) TO "+role); err != nil {
		return false, "", fmt.Errorf("install amcheck in the drill's copy: %w", err)
	}
	return true, "", nil
}

// indexPlan checks the B-tree indexes.
type indexPlan struct {
	mode string // PORTAL_DRILL_HEAP_CHECK
	list []drillIndex
	errs []error
}

type drillIndex struct {
	oid         int64
	name        string
	valid       bool
	size, table int64 // bytes of the index and of its table (heapallindexed reads both)
	// computed: the copy may compute the index's keys differently than the
	// source did (see planIndexes).
	computed bool
	heap     bool // checked with heapallindexed
}

// heapMode is PORTAL_DRILL_HEAP_CHECK, computed when unset.
func heapMode(mode string) string {
	if mode == "" {
		return config.HeapCheckComputed
	}
	return mode
}

// planIndexes lists the B-tree indexes: invalid ones are refused, the
// others (amcheck true) are checked with bt_index_check. Those the mode
// selects are checked with heapallindexed too: beyond the index's own
// structure, every heap tuple must have its index entry, which catches an
// index built with a function that is not the one the copy has now (a
// mislabelled IMMUTABLE function, a changed collation library). It costs a
// pass over the table per index, so under "computed" only the indexes whose
// keys the copy can compute differently than the source did get it:
// expression and partial indexes (functions the customer wrote or may
// redefine), a key column whose collation is not byte order (libc's C or
// POSIX, the builtin ucs_basic: any other libc or ICU locale, the database
// default included, sorts as the library's version does), an operator class
// outside pg_catalog (a comparison function of the customer's), or one that
// compares records or ranges (their elements' collations are not in
// indcollation). The structure check of the others compares neighbouring
// keys with the same operators, so an order the copy's functions disagree
// with is caught there too; what only the heap check finds is an entry
// missing for a heap tuple.
func (r *drillRun) planIndexes(ctx context.Context, conn *pgx.Conn, amcheck bool) (*indexPlan, error) {
	rows, err := conn.Query(ctx, `SELECT c.oid::int8, format('%I.%I', n.nspname, c.relname), i.indisvalid AND i.indisready,
			pg_relation_size(c.oid), pg_relation_size(i.indrelid),
			i.indexprs IS NOT NULL OR i.indpred IS NOT NULL
			OR EXISTS (SELECT FROM unnest(i.indcollation::oid[]) k(coll) JOIN pg_collation co ON co.oid = k.coll
				WHERE NOT CASE co.collprovider
					WHEN 'd' THEN (SELECT coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c' AND d.datcollate IN ('C', 'POSIX')
						FROM pg_database d WHERE d.datname = current_database())
					WHEN 'c' THEN co.collcollate IN ('C', 'POSIX')
					WHEN 'b' THEN co.collname = 'ucs_basic' AND co.collnamespace = 'pg_catalog'::regnamespace
					ELSE false END)
			OR EXISTS (SELECT FROM unnest(i.indclass::oid[]) k(cls) JOIN pg_opclass oc ON oc.oid = k.cls
				WHERE oc.opcnamespace <> 'pg_catalog'::regnamespace OR oc.opcintype::regtype::text IN ('record', 'anyrange', 'anymultirange'))
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_am am ON am.oid = c.relam
		WHERE am.amname = 'btree' AND c.relkind = 'i' AND c.relpersistence <> 't'
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) AND n.nspname NOT LIKE 'pg\_toast%'
		ORDER BY 2`, amcheckSchema)
	if err != nil {
		return nil, err
	}
	mode := heapMode(r.d.Config.Drills.HeapCheck)
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (drillIndex, error) {
		var i drillIndex
		err := r.Scan(&i.oid, &i.name, &i.valid, &i.size, &i.table, &i.computed)
		i.heap = mode == config.HeapCheckAll || mode == config.HeapCheckComputed && i.computed
		return i, err
	})
	if err != nil {
		return nil, err
	}
	p := &indexPlan{mode: mode, list: list, errs: make([]error, len(list))}
	if !amcheck {
		for k, i := range list {
			if i.valid {
				p.errs[k] = errNotChecked
			}
		}
	}
	return p, nil
}

// errNotChecked marks an index amcheck did not check (no amcheck).
var errNotChecked = errors.New("not checked")

func (p *indexPlan) tasks() []checkTask {
	check := "SELECT " + pgx.Identifier{amcheckSchema, "bt_index_check"}.Sanitize() + "($1::oid::regclass, $2)"
	var tasks []checkTask
	for k, i := range p.list {
		if !i.valid || p.errs[k] != nil {
			continue
		}
		cost := i.size
		if i.heap {
			cost += i.table
		}
		tasks = append(tasks, checkTask{kind: drills.PhaseAmcheck, cost: cost, run: func(ctx context.Context, conn *pgx.Conn) {
			_, p.errs[k] = conn.Exec(ctx, check, i.oid, i.heap)
		}})
	}
	return tasks
}

// checkable counts the indexes amcheck checked.
func (p *indexPlan) checkable() (n int) {
	for k, i := range p.list {
		if i.valid && !errors.Is(p.errs[k], errNotChecked) {
			n++
		}
	}
	return n
}

func (p *indexPlan) result(c *drillChecked) []string {
	var bad []string
	for k, i := range p.list {
		how := "bt_index_check"
		if i.heap {
			how = "bt_index_check with heapallindexed"
		}
		switch {
		case !i.valid:
			bad = append(bad, fmt.Sprintf("index %s is invalid", i.name))
		case errors.Is(p.errs[k], errNotChecked):
		case p.errs[k] != nil:
			bad = append(bad, fmt.Sprintf("index %s fails amcheck (%s, PORTAL_DRILL_HEAP_CHECK=%s): %v", i.name, how, p.mode, p.errs[k]))
		default:
			c.indexes++
		}
		if i.heap && i.valid && !errors.Is(p.errs[k], errNotChecked) {
			c.heapChecked = append(c.heapChecked, i.name)
		}
	}
	return bad
}

// ownerConns opens the check's connections to the copy through sess, acting
// as the owner: PORTAL_APPLY_JOBS of them (one per CPU by default, at most
// 8).
func (r *drillRun) ownerConns(ctx context.Context, sess *cluster.Session) ([]*pgx.Conn, func(), error) {
	n := r.d.Config.Worker.ApplyJobs
	if n <= 0 {
		n = runtime.NumCPU()
	}
	conns := make([]*pgx.Conn, min(n, 8))
	closeAll := func() {
		ctx := context.WithoutCancel(ctx)
		for _, c := range conns {
			if c != nil {
				c.Close(ctx)
			}
		}
	}
	// Opened at once: each is a backend fork and a login.
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { conns[i], errs[i] = sess.Connect(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll()
		return nil, nil, err
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

// fkPlan validates the foreign keys the dump marked NOT VALID.
type fkPlan struct {
	list  []drillFK
	notes []string
	mu    sync.Mutex
}

type drillFK struct {
	table, name string
	valid       bool
	size        int64
}

// planForeignKeys lists the foreign keys: those the restore added were
// validated as they were added; one the dump marked NOT VALID is validated
// now, and one that does not hold is noted (the live database may hold the
// same rows: NOT VALID is the customer's choice).
func (r *drillRun) planForeignKeys(ctx context.Context, conn *pgx.Conn) (*fkPlan, error) {
	rows, err := conn.Query(ctx, `SELECT conrelid::regclass::text, conname, convalidated, pg_relation_size(conrelid) FROM pg_constraint
		WHERE contype = 'f' AND connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)`)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (drillFK, error) {
		var f drillFK
		err := r.Scan(&f.table, &f.name, &f.valid, &f.size)
		return f, err
	})
	if err != nil {
		return nil, err
	}
	return &fkPlan{list: list}, nil
}

func (p *fkPlan) tasks() []checkTask {
	var tasks []checkTask
	for _, f := range p.list {
		if f.valid {
			continue
		}
		tasks = append(tasks, checkTask{kind: drills.PhaseForeignKeys, cost: f.size, run: func(ctx context.Context, conn *pgx.Conn) {
			_, err := conn.Exec(ctx, "ALTER TABLE "+f.table+" VALIDATE CONSTRAINT "+pgx.Identifier{f.name}.Sanitize())
			if err != nil && ctx.Err() == nil {
				p.mu.Lock()
				p.notes = append(p.notes, fmt.Sprintf("foreign key %s on %s is NOT VALID in the snapshot and does not hold: %v", f.name, f.table, err))
				p.mu.Unlock()
			}
		}})
	}
	return tasks
}

func (p *fkPlan) result(c *drillChecked) {
	c.fks += len(p.list)
	sort.Strings(p.notes)
	c.notes = append(c.notes, p.notes...)
}
