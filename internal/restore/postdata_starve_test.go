package restore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/testenv"
)

// TestPostDataWaitingItemsHoldNoConnection runs the post-data scheduler with
// two connections over indexes whose tables' data is still being loaded, as
// by the COPY of an extra cursor, which needs an idle connection of the same
// set. Once both schedulers wait for data, each load takes a connection; a
// scheduler that held one while waiting would starve the loads, and the
// test's deadline would end it.
func TestPostDataWaitingItemsHoldNoConnection(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setup, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close(context.Background())

	const jobs, tables = 2, 8
	a := &applier{
		opts: Options{Jobs: jobs}, cfg: cfg, cancel: cancel,
		byName:  map[extract.QualifiedName]*tableStat{},
		changed: make(chan struct{}),
		idle:    make(chan *worker, jobs),
	}
	defer func() {
		for _, w := range a.workers {
			_ = w.conn.Close(context.Background())
		}
	}()
	var items []*postItem
	var stats []*tableStat
	for i := range tables {
		q := extract.QualifiedName{Schema: "public", Name: fmt.Sprintf("t%d", i)}
		if _, err := setup.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int, v text)", q.Quoted())); err != nil {
			t.Fatal(err)
		}
		st := a.stat(q)
		st.pending.Add(1) // its data is still being loaded
		stats = append(stats, st)
		for _, col := range []string{"id", "v"} {
			sql := fmt.Sprintf("CREATE INDEX ON %s (%s);", q.Quoted(), col)
			items = append(items, &postItem{kind: postKey, entries: []*extract.Entry{{SQL: sql}}, locks: []extract.QualifiedName{q}, shared: true})
		}
	}
	waiting := make(chan struct{}, 1000)
	a.waitHook = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	done := make(chan error, 1)
	go func() { done <- a.parallel(ctx, items) }()
	for range jobs { // both schedulers wait for data
		select {
		case <-waiting:
		case <-ctx.Done():
			t.Fatal("the schedulers never waited")
		}
	}
	for i, st := range stats {
		var w *worker
		select {
		case w = <-a.idle:
		case <-ctx.Done():
			t.Fatalf("the data load of table %d found no idle connection: waiting post-data items hold them all", i)
		}
		if err := w.exec(ctx, fmt.Sprintf("INSERT INTO t%d SELECT g, g::text FROM generate_series(1, 1000) g", i)); err != nil {
			t.Fatal(err)
		}
		a.idle <- w
		st.pending.Add(-1)
		a.notify()
	}
	if err := <-done; err != nil {
		t.Fatalf("post-data: %v", err)
	}
	var n int
	if err := setup.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2*tables {
		t.Fatalf("%d indexes made, want %d", n, 2*tables)
	}
}
