package restore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/restoreportal/portal/internal/extract"
)

type postKind int

const (
	postSerial postKind = iota
	postKey             // primary/unique/exclusion constraint or index
	postFK              // foreign key
)

type postItem struct {
	kind    postKind
	entries []*extract.Entry
	// locks are the tables the item locks; shared items (CREATE INDEX takes a SHARE
	// lock) may run together on one table, exclusive ones (ALTER TABLE) may not.
	locks  []extract.QualifiedName
	shared bool
	size   int64
	early  bool // a foreign key run with the keys, as soon as its tables are ready
}

// postData runs post-data entries in a dependency-safe schedule:
//
//   - the leading run of keys and indexes (pg_dump writes them first) in parallel,
//     each as soon as its own table's data is stored; indexes of one table together,
//     constraints (ALTER TABLE) alone on their table;
//   - foreign keys between two plain tables with the same scheduler, once both tables'
//     data and keys are done (never two items locking one table exclusively at once);
//   - after all data: the rest in dump order, serially, except consecutive foreign keys
//     in parallel;
//   - materialized view refreshes last.
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
				shared := e.Type == "INDEX" && strings.HasPrefix(strings.ToUpper(e.SQL), "CREATE ")
				items = append(items, &postItem{kind: postKey, entries: []*extract.Entry{e}, locks: []extract.QualifiedName{t}, shared: shared})
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

	// Phase A: the leading keys, and the foreign keys that may join them.
	lead := 0
	for lead < len(items) && items[lead].kind == postKey {
		lead++
	}
	phaseA := slices.Clone(items[:lead])
	lateKeys := map[extract.QualifiedName]bool{}
	for _, it := range items[lead:] {
		if it.kind == postKey {
			lateKeys[it.locks[0]] = true
		}
	}
	var rest []*postItem
	for _, it := range items[lead:] {
		if it.kind == postFK && a.plainTable(it.locks[0]) && a.plainTable(it.locks[1]) &&
			!lateKeys[it.locks[0]] && !lateKeys[it.locks[1]] {
			it.early = true
			phaseA = append(phaseA, it)
			continue
		}
		rest = append(rest, it)
	}
	if err := a.parallel(ctx, phaseA); err != nil {
		return err
	}

	// Phase B: after all data, in dump order.
	a.cursors.Wait()
	a.wg.Wait()
	if err := a.firstErr(); err != nil {
		return err
	}
	for i := 0; i < len(rest); {
		it := rest[i]
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
		for j < len(rest) && rest[j].kind == it.kind {
			j++
		}
		if err := a.parallel(ctx, rest[i:j]); err != nil {
			return err
		}
		i = j
	}
	for _, e := range refresh {
		if err := a.serial(ctx, a.main, e); err != nil {
			return err
		}
	}
	return nil
}

// plainTable reports whether q is an ordinary table (not partitioned) whose data this
// run loaded, so that a foreign key on it only depends on its own data and keys.
func (a *applier) plainTable(q extract.QualifiedName) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.byName[q]
	return st != nil && st.relkind.Load() == 'r'
}

// parallel runs items over the worker connections as they become idle. An item waits
// until the data of its tables is stored (and, for an early foreign key, until the
// keys of both tables exist); items with conflicting locks never run together;
// larger tables start first.
func (a *applier) parallel(ctx context.Context, items []*postItem) error {
	if len(items) == 0 {
		return nil
	}
	if err := a.startWorkers(ctx); err != nil {
		return err
	}
	s := a.newPostSchedule(items)
	// Each scheduler first takes a ready item, then an idle connection for
	// it, and gives the connection back as soon as the item ran: an item
	// waiting for its tables' data holds no connection, so the COPY of another
	// cursor that this data needs always finds one.
	var wg sync.WaitGroup
	for range a.workers {
		wg.Go(func() { s.run(ctx) })
	}
	wg.Wait()
	if s.firstErr != nil {
		return s.firstErr
	}
	if err := a.firstErr(); err != nil {
		return err
	}
	return ctx.Err()
}

// postSchedule is the state parallel's schedulers share: the items not yet
// taken, the table locks items hold and the keys still to build per table.
type postSchedule struct {
	a        *applier
	stats    map[*postItem][]*tableStat // the tables whose data each item waits for
	mu       sync.Mutex
	pending  []*postItem
	keysLeft map[extract.QualifiedName]int
	busy     map[extract.QualifiedName]int // >0 shared holders, -1 exclusive
	firstErr error
}

// newPostSchedule sizes items by their tables' data and orders them: keys
// before foreign keys, then larger tables first.
func (a *applier) newPostSchedule(items []*postItem) *postSchedule {
	s := &postSchedule{a: a, stats: map[*postItem][]*tableStat{}, keysLeft: map[extract.QualifiedName]int{},
		busy: map[extract.QualifiedName]int{}}
	a.mu.Lock()
	for _, it := range items {
		for _, l := range it.locks {
			if st := a.byName[l]; st != nil {
				it.size += st.bytes.Load()
				s.stats[it] = append(s.stats[it], st)
			}
		}
	}
	a.mu.Unlock()
	s.pending = slices.Clone(items)
	slices.SortStableFunc(s.pending, func(x, y *postItem) int {
		if c := cmp.Compare(x.kind, y.kind); c != 0 {
			return c
		}
		return cmp.Compare(y.size, x.size)
	})
	for _, it := range items {
		if it.kind == postKey {
			s.keysLeft[it.locks[0]]++
		}
	}
	return s
}

// ready says whether it may start now (s.mu held): its tables' data is
// stored, an early foreign key's keys exist, and no running item holds a
// conflicting lock.
func (s *postSchedule) ready(it *postItem) bool {
	for _, st := range s.stats[it] {
		if st.pending.Load() > 0 {
			return false
		}
	}
	if it.early {
		for _, q := range it.locks {
			if s.keysLeft[q] > 0 {
				return false
			}
		}
	}
	for _, q := range it.locks {
		if it.shared && s.busy[q] < 0 || !it.shared && s.busy[q] != 0 {
			return false
		}
	}
	return true
}

// take waits for a ready item and takes its locks; nil when all items are
// taken, one failed, or ctx ended.
func (s *postSchedule) take(ctx context.Context) *postItem {
	for {
		changed := s.a.waitChange()
		s.mu.Lock()
		if s.firstErr != nil || len(s.pending) == 0 {
			s.mu.Unlock()
			return nil
		}
		for k, it := range s.pending {
			if s.ready(it) {
				s.pending = slices.Delete(s.pending, k, k+1)
				for _, q := range it.locks {
					if it.shared {
						s.busy[q]++
					} else {
						s.busy[q] = -1
					}
				}
				s.mu.Unlock()
				return it
			}
		}
		s.mu.Unlock()
		if s.a.waitHook != nil {
			s.a.waitHook()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// release gives back the locks of it, which ran with err, and wakes the
// schedulers.
func (s *postSchedule) release(it *postItem, err error) {
	s.mu.Lock()
	for _, q := range it.locks {
		if it.shared {
			s.busy[q]--
		} else {
			s.busy[q] = 0
		}
	}
	if it.kind == postKey {
		s.keysLeft[it.locks[0]]--
	}
	if err != nil && s.firstErr == nil {
		s.firstErr = err
	}
	s.mu.Unlock()
	s.a.notify()
}

// run is one scheduler: it takes ready items and runs each on an idle
// connection until none is left.
func (s *postSchedule) run(ctx context.Context) {
	for {
		it := s.take(ctx)
		if it == nil {
			return
		}
		var w *worker
		select {
		case w = <-s.a.idle:
		case <-ctx.Done():
			s.release(it, ctx.Err())
			return
		}
		err := s.a.runItem(ctx, w, it)
		s.a.idle <- w
		s.release(it, err)
	}
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
