package restore

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/restoreportal/portal/internal/extract"
)

type postKind int

const (
	postSerial postKind = iota
	postKey             // primary/unique/exclusion constraint or index: parallel per table
	postFK              // foreign key: parallel, never two on one table at once
)

type postItem struct {
	kind    postKind
	entries []*extract.Entry
	locks   []extract.QualifiedName
	size    int64
}

// postData runs post-data entries: consecutive keys and indexes in parallel per table,
// consecutive foreign keys in parallel with lock-aware scheduling, anything else
// serially in dump order, materialized view refreshes last.
func (a *applier) postData(ctx context.Context, entries []*extract.Entry) error {
	var items []*postItem
	var refresh []*extract.Entry
	for _, e := range entries {
		var last *postItem
		if len(items) > 0 {
			last = items[len(items)-1]
		}
		switch {
		case e.Type == "MATERIALIZED VIEW DATA":
			refresh = append(refresh, e)
			continue
		case (e.Type == "COMMENT" || e.Type == "SECURITY LABEL") && last != nil && last.kind != postSerial && !isSessionSetting(e.SQL):
			// Comments follow what they describe.
			last.entries = append(last.entries, e)
			continue
		case e.Type == "CONSTRAINT" || e.Type == "INDEX":
			if t, ok := extract.TargetTable(e.SQL); ok && !isSessionSetting(e.SQL) {
				if last != nil && last.kind == postKey && last.locks[0] == t {
					last.entries = append(last.entries, e)
				} else {
					items = append(items, &postItem{kind: postKey, entries: []*extract.Entry{e}, locks: []extract.QualifiedName{t}})
				}
				continue
			}
		case e.Type == "FK CONSTRAINT":
			t, ok1 := extract.TargetTable(e.SQL)
			r, ok2 := extract.ReferencedTable(e.SQL)
			if ok1 && ok2 && !isSessionSetting(e.SQL) {
				items = append(items, &postItem{kind: postFK, entries: []*extract.Entry{e}, locks: []extract.QualifiedName{t, r}})
				continue
			}
		}
		items = append(items, &postItem{kind: postSerial, entries: []*extract.Entry{e}})
	}
	barrier := false
	for i := 0; i < len(items); {
		it := items[i]
		if it.kind != postKey && !barrier {
			// Foreign keys, triggers and the rest wait for all data; keys and indexes
			// only for their own table's.
			a.wg.Wait()
			barrier = true
			if err := a.firstErr(); err != nil {
				return err
			}
		}
		if it.kind == postSerial {
			for _, e := range it.entries {
				if err := a.serial(ctx, a.main, e); err != nil {
					return err
				}
			}
			i++
			continue
		}
		j := i
		for j < len(items) && items[j].kind == it.kind {
			j++
		}
		if err := a.parallel(ctx, items[i:j]); err != nil {
			return err
		}
		i = j
	}
	a.wg.Wait()
	if err := a.firstErr(); err != nil {
		return err
	}
	for _, e := range refresh {
		if err := a.serial(ctx, a.main, e); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs items over the worker connections as they become idle. Items whose
// lock sets overlap never run at the same time; an item waits until the data of its
// tables is stored; larger tables start first.
func (a *applier) parallel(ctx context.Context, items []*postItem) error {
	if err := a.startWorkers(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	stats := map[*postItem][]*tableStat{}
	for _, it := range items {
		for _, l := range it.locks {
			if st := a.byName[l]; st != nil {
				it.size += st.bytes.Load()
				stats[it] = append(stats[it], st)
			}
		}
	}
	a.mu.Unlock()
	pending := slices.Clone(items)
	slices.SortStableFunc(pending, func(x, y *postItem) int { return cmp.Compare(y.size, x.size) })
	ready := func(it *postItem) bool {
		for _, st := range stats[it] {
			if st.pending.Load() > 0 {
				return false
			}
		}
		return true
	}

	var mu sync.Mutex
	busy := map[extract.QualifiedName]bool{}
	var firstErr error
	take := func() *postItem {
		for {
			changed := a.waitChange()
			mu.Lock()
			if firstErr != nil || len(pending) == 0 {
				mu.Unlock()
				return nil
			}
			for k, it := range pending {
				if ready(it) && !slices.ContainsFunc(it.locks, func(q extract.QualifiedName) bool { return busy[q] }) {
					pending = slices.Delete(pending, k, k+1)
					for _, q := range it.locks {
						busy[q] = true
					}
					mu.Unlock()
					return it
				}
			}
			mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				return nil
			}
		}
	}
	release := func(it *postItem, err error) {
		mu.Lock()
		for _, q := range it.locks {
			delete(busy, q)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		a.notify()
	}
	var wg sync.WaitGroup
	for range a.workers {
		wg.Go(func() {
			var w *worker
			select {
			case w = <-a.idle:
			case <-ctx.Done():
				return
			}
			defer func() { a.idle <- w }()
			for {
				it := take()
				if it == nil {
					return
				}
				release(it, a.runItem(ctx, w, it))
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := a.firstErr(); err != nil {
		return err
	}
	return ctx.Err()
}

func (a *applier) runItem(ctx context.Context, w *worker, it *postItem) error {
	for _, e := range it.entries {
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if err = a.serial(ctx, w, e); err == nil || !isDeadlock(err) {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
