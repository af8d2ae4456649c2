package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/restoreportal/portal/internal/extract"
)

// startWorkers opens the Jobs connections used for data and post-data.
func (a *applier) startWorkers(ctx context.Context) error {
	a.startMu.Lock()
	defer a.startMu.Unlock()
	if a.workers != nil {
		return nil
	}
	var ws []*worker
	for range a.opts.Jobs {
		w, err := connect(ctx, a.cfg)
		if err != nil {
			for _, w := range ws {
				_ = w.conn.Close(context.WithoutCancel(ctx))
			}
			return err
		}
		ws = append(ws, w)
	}
	a.workers = ws
	for _, w := range ws {
		a.idle <- w
	}
	return nil
}

type copyJob struct {
	entry  *extract.Entry
	stat   *tableStat
	first  bool // first COPY into this table in this run
	chunks chan []byte
	failed chan struct{}
}

// copy hands a COPY block to an idle worker connection and streams its rows there in
// bounded chunks; it returns once the block has been read, while the worker finishes.
func (a *applier) copy(ctx context.Context, e *extract.Entry, cursor int) error {
	if err := a.startWorkers(ctx); err != nil {
		return err
	}
	var w *worker
	select {
	case w = <-a.idle:
	case <-ctx.Done():
		return a.ctxErr(ctx)
	}
	st := a.stat(e.Table)
	st.loadedBy.Store(int32(cursor))
	a.mu.Lock()
	// Only a table this run created, on its first COPY, may be truncated for FREEZE:
	// never rows that were there before.
	first := a.created[e.Table] && !a.truncd[e.Table]
	a.truncd[e.Table] = true
	a.mu.Unlock()
	// One block may queue the whole budget, unless other cursors need a share of it.
	queue := max(a.bufs.max/(1+a.ncursors), 4)
	job := &copyJob{entry: e, stat: st, first: first, chunks: make(chan []byte, queue), failed: make(chan struct{})}
	a.wg.Add(1)
	go a.runCopy(ctx, w, job)

	defer close(job.chunks)
	var sent int64
	for {
		buf, err := a.bufs.get(ctx)
		if err != nil {
			return a.ctxErr(ctx)
		}
		n, err := io.ReadFull(e.Rows, buf[:chunkSize])
		if n > 0 {
			select {
			case job.chunks <- buf[:n]:
			case <-job.failed:
				a.bufs.put(buf)
				return a.ctxErr(ctx)
			case <-ctx.Done():
				a.bufs.put(buf)
				return a.ctxErr(ctx)
			}
			rows := e.Rows.Count()
			a.rows.Add(rows - sent)
			st.dumpRows.Add(rows - sent)
			sent = rows
			st.bytes.Add(int64(n))
		} else {
			a.bufs.put(buf)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if e.Rows.Done() {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

func (a *applier) ctxErr(ctx context.Context) error {
	if err := a.firstErr(); err != nil {
		return err
	}
	return ctx.Err()
}

func (a *applier) runCopy(ctx context.Context, w *worker, job *copyJob) {
	defer a.wg.Done()
	err := a.copyInto(ctx, w, job)
	job.stat.pending.Add(-1)
	defer a.notify()
	if err != nil {
		close(job.failed)
		// Drain what the reader already queued so it never blocks.
		for b := range job.chunks {
			a.bufs.put(b)
		}
		a.fail(entryError(job.entry, err))
		return
	}
	a.idle <- w
}

func (a *applier) copyInto(ctx context.Context, w *worker, job *copyJob) error {
	if err := w.sync(ctx, &a.sess); err != nil {
		return err
	}
	e := job.entry
	target := e.Table.Quoted()
	cols := ""
	if len(e.Columns) > 0 {
		q := make([]string, len(e.Columns))
		for i, c := range e.Columns {
			q[i] = extract.QuoteIdent(c)
		}
		cols = " (" + strings.Join(q, ", ") + ")"
	}
	// A plain table created by this restore is truncated and loaded in one transaction
	// with FREEZE: rows are written frozen (no hint-bit rewrites when the indexes are
	// built) and, with wal_level=minimal, without WAL.
	freeze := false
	if job.first {
		kind, err := a.relkind(ctx, w, target)
		if err != nil {
			return err
		}
		freeze = kind == "r"
		if len(kind) == 1 {
			job.stat.relkind.Store(int32(kind[0]))
		}
	}
	sql := "COPY " + target + cols + " FROM STDIN"
	r := &chanReader{ch: job.chunks, bufs: a.bufs, ctx: ctx}
	if !freeze {
		tag, err := w.conn.PgConn().CopyFrom(ctx, r, sql)
		if err != nil {
			return err
		}
		job.stat.copiedRows.Add(tag.RowsAffected())
		return nil
	}
	if err := w.exec(ctx, "BEGIN; TRUNCATE ONLY "+target); err != nil {
		return err
	}
	tag, err := w.conn.PgConn().CopyFrom(ctx, r, sql+" WITH (FREEZE)")
	if err != nil {
		_ = w.exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	if err := w.exec(ctx, "COMMIT"); err != nil {
		return err
	}
	job.stat.copiedRows.Add(tag.RowsAffected())
	return nil
}

func (a *applier) relkind(ctx context.Context, w *worker, target string) (string, error) {
	lit := "'" + strings.ReplaceAll(target, "'", "''") + "'"
	rr := w.conn.PgConn().Exec(ctx, "SELECT relkind FROM pg_catalog.pg_class WHERE oid = "+lit+"::pg_catalog.regclass")
	res, err := rr.ReadAll()
	if err != nil {
		return "", err
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return "", errors.New("table not found: " + target)
	}
	return string(res[0].Rows[0][0]), nil
}

// chanReader reads the chunks the reader goroutine queued for one COPY block,
// returning each buffer to the pool once consumed.
type chanReader struct {
	ch   chan []byte
	bufs *bufPool
	ctx  context.Context
	cur  []byte
	full []byte
}

func (r *chanReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.full != nil {
			r.bufs.put(r.full)
			r.full = nil
		}
		select {
		case b, ok := <-r.ch:
			if !ok {
				return 0, io.EOF
			}
			r.cur, r.full = b, b
		case <-r.ctx.Done():
			return 0, fmt.Errorf("copy aborted: %w", r.ctx.Err())
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// bufPool hands out at most max chunk buffers, allocating them on first use.
type bufPool struct {
	free chan []byte
	mu   sync.Mutex
	n    int
	max  int
}

func newBufPool(max int) *bufPool {
	return &bufPool{free: make(chan []byte, max), max: max}
}

func (p *bufPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	p.mu.Lock()
	if p.n < p.max {
		p.n++
		p.mu.Unlock()
		return make([]byte, chunkSize), nil
	}
	p.mu.Unlock()
	select {
	case b := <-p.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns a buffer; it never blocks since at most max exist.
func (p *bufPool) put(b []byte) {
	p.free <- b[:cap(b)]
}
