package jobs

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// DrillLockKey is ref's drill lock key, for the tests that cut its session.
func DrillLockKey(ref string) int64 { return drillLockKey(ref) }

// DrillAmcheckSchema is the schema a drill installs amcheck in.
const DrillAmcheckSchema = amcheckSchema

// DrillHeapPlan lists the B-tree indexes of conn's database a drill checks
// and those of them PORTAL_DRILL_HEAP_CHECK mode checks with heapallindexed,
// without checking them.
func DrillHeapPlan(ctx context.Context, conn *pgx.Conn, mode string) (all, heap []string, err error) {
	p, err := heapPlan(ctx, conn, mode)
	if err != nil {
		return nil, nil, err
	}
	for _, i := range p.list {
		all = append(all, i.name)
		if i.heap {
			heap = append(heap, i.name)
		}
	}
	return all, heap, nil
}

// DrillIndexChecks runs a drill's index checks on conn's database (amcheck
// installed in DrillAmcheckSchema) under PORTAL_DRILL_HEAP_CHECK mode, as a
// drill's checks do: it returns the indexes checked with heapallindexed and
// the failures.
func DrillIndexChecks(ctx context.Context, conn *pgx.Conn, mode string) (heap, bad []string, err error) {
	p, err := heapPlan(ctx, conn, mode)
	if err != nil {
		return nil, nil, err
	}
	if _, err := runChecks(ctx, []*pgx.Conn{conn}, p.tasks()); err != nil {
		return nil, nil, err
	}
	var c drillChecked
	bad = p.result(&c)
	return c.heapChecked, bad, nil
}

func heapPlan(ctx context.Context, conn *pgx.Conn, mode string) (*indexPlan, error) {
	r := &drillRun{}
	r.d.Config.Drills.HeapCheck = mode
	return r.planIndexes(ctx, conn, true)
}
