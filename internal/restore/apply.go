package restore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/periodic"
)

// ErrVerification is wrapped by Apply's error when the rows copied into a table differ
// from the rows of its COPY block in the dump.
var ErrVerification = errors.New("restore verification failed")

// Options configure Apply. Zero values mean defaults.
type Options struct {
	// DatabaseURL is the target database, which should be empty.
	DatabaseURL string
	// Jobs is the number of connections for data and post-data; default runtime.NumCPU().
	Jobs int
	// Tables, when not empty, restricts the restore to these tables and what they need
	// (see extract.Select). Names must come from the dump's inventory.
	Tables []extract.QualifiedName
	// Progress, if set, is called from a separate goroutine at most every
	// ProgressInterval (default 1s), and once more at the end.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// MemoryBudget bounds the row data buffered between the dump reader and the COPY
	// connections (default 80 MiB). Reading ahead lets the next table's COPY start on
	// another connection while the previous one is still being stored.
	MemoryBudget int64
	// Reopen, if set, opens the same uncompressed dump again from its start. Apply then
	// reads it with up to Jobs-1 extra cursors (at most 3) that each take the next
	// COPY block no other cursor has taken and skip everything else, so several tables
	// load at once even though one stream is sequential, at the cost of decompressing
	// the dump once more per cursor. The returned reader is closed when done.
	Reopen func(ctx context.Context) (io.ReadCloser, error)
	// Parts are large tables' data the dump stream leaves out, read apart by
	// Readers (default Jobs) goroutines at once (parallel.go); empty: the
	// dump's own Parts when it is Parted. Reopen is then not used; Tables must
	// be empty.
	Parts   []Part
	Readers int
	// Warn, if set, receives warnings (a skipped unknown SET, say). They are also in Result.
	Warn func(string)

	// Role, when set, is the role every connection acts as (SET ROLE at its
	// start): the project's owner. DatabaseURL then logs in as a role with no
	// more rights than Role (a cluster.Session's), and the dump's EXTENSION
	// entries are not run as Role but handed to CreateExtension, for the
	// extensions ExtensionsAllowed lists; any other fails the restore.
	// COMMENT ON EXTENSION is skipped with a warning.
	Role              string
	ExtensionsAllowed []string
	CreateExtension   func(ctx context.Context, x Extension) error
}

// Progress is a snapshot of a running Apply.
type Progress struct {
	Phase     extract.Phase
	Entries   int64 // entries read from the dump so far
	BytesRead int64 // dump bytes consumed (uncompressed)
	Rows      int64 // rows streamed to the target so far
	// Tables has the rows streamed per table so far, in dump order.
	Tables []TableResult
	Done   bool
}

// TableResult is the outcome for one table's data.
type TableResult struct {
	Table extract.QualifiedName
	// DumpRows is the number of rows in the dump's COPY block(s); CopiedRows what the
	// server reported it stored (CommandTag.RowsAffected).
	DumpRows   int64
	CopiedRows int64
	Bytes      int64
	// LoadedBy is the cursor that read the table's data: 0 for the main reader, n for
	// the n-th extra cursor (Options.Reopen).
	LoadedBy int
}

// Result describes a finished Apply.
type Result struct {
	Tables    []TableResult
	Entries   int64
	BytesRead int64
	// Warnings lists things skipped on purpose, e.g. header SETs the server does not know.
	Warnings []string
	// DroppedForeignKeys names foreign keys left out of a table selection because they
	// reference tables not selected.
	DroppedForeignKeys []string
	TrailerSeen        bool
	ServerVersion      string
	DumpVersion        string
	Duration           time.Duration
}

// source yields entries: an *extract.Reader or a selection over one.
type source interface {
	Next() (extract.Entry, error)
}

type tableStat struct {
	table      extract.QualifiedName
	pending    atomic.Int32 // COPY jobs not finished
	relkind    atomic.Int32 // pg_class.relkind, when this run created and loaded it
	loadedBy   atomic.Int32 // cursor that loaded the last block
	dumpRows   atomic.Int64
	copiedRows atomic.Int64
	bytes      atomic.Int64
}

type applier struct {
	opts    Options
	cfg     *pgx.ConnConfig
	dbname  string
	rd      *extract.Reader
	sess    session
	main    *worker
	workers []*worker
	idle    chan *worker
	bufs    *bufPool
	wg      sync.WaitGroup

	// waitHook, when set (by tests), is called each time a post-data
	// scheduler finds no item ready and waits.
	waitHook func()

	errMu  sync.Mutex
	err    error
	cancel context.CancelFunc
	// changed is closed and replaced whenever a COPY finishes, to wake the post-data
	// scheduler.
	changed chan struct{}

	// Several cursors over the dump share COPY blocks by ordinal; preDone is closed
	// when the main cursor has applied pre-data.
	startMu  sync.Mutex
	claimMu  sync.Mutex
	claimed  map[int]bool
	preDone  chan struct{}
	preOnce  sync.Once
	cursors  sync.WaitGroup
	ncursors int

	mu       sync.Mutex
	tables   []*tableStat
	byName   map[extract.QualifiedName]*tableStat
	truncd   map[extract.QualifiedName]bool
	created  map[extract.QualifiedName]bool // tables this run created
	warnings []string

	phase     atomic.Int32
	entries   atomic.Int64
	rows      atomic.Int64
	partBytes atomic.Int64 // read by part readers
	partsLeft atomic.Int32 // parts not yet read
}

const chunkSize = 256 << 10

// Apply reads the uncompressed plain-format dump and applies it to opts.DatabaseURL.
// It returns an error naming the entry when a statement fails (wrapping the server's
// *pgconn.PgError), and an error wrapping ErrVerification when copied row counts differ
// from the dump's.
func Apply(ctx context.Context, dump io.Reader, opts Options) (*Result, error) {
	start := time.Now()
	opts.Jobs = cmp.Or(opts.Jobs, runtime.NumCPU())
	opts.ProgressInterval = cmp.Or(opts.ProgressInterval, time.Second)
	opts.MemoryBudget = max(cmp.Or(opts.MemoryBudget, 80<<20), 4*chunkSize)
	if p, ok := dump.(Parted); ok && len(opts.Parts) == 0 {
		opts.Parts = p.Parts()
	}
	if len(opts.Parts) > 0 && len(opts.Tables) > 0 {
		return nil, errors.New("a tables restore reads the dump as one stream, not in parts")
	}
	cfg, err := pgx.ParseConfig(opts.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.RuntimeParams["application_name"] = "portal-restore"
	cfg.RuntimeParams["synchronous_commit"] = "off"
	cfg.RuntimeParams["maintenance_work_mem"] = "256MB"
	if opts.Role != "" {
		setRole(cfg, opts.Role)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &applier{
		opts: opts, cfg: cfg, dbname: cfg.Database, cancel: cancel,
		byName:  map[extract.QualifiedName]*tableStat{},
		truncd:  map[extract.QualifiedName]bool{},
		created: map[extract.QualifiedName]bool{},
		changed: make(chan struct{}),
		claimed: map[int]bool{},
		preDone: make(chan struct{}),
		idle:    make(chan *worker, opts.Jobs),
		// Row data in flight never exceeds the budget: the reader reads ahead of a
		// busy COPY by at most that much, then waits.
		bufs: newBufPool(int(opts.MemoryBudget / chunkSize)),
	}
	a.rd = extract.NewReader(dump)
	var src source = a.rd
	var sel *extract.Selection
	if len(opts.Tables) > 0 {
		sel = extract.Select(a.rd, opts.Tables)
		src = sel
	}
	a.phase.Store(int32(extract.PreData))

	a.main, err = connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer a.main.conn.Close(context.WithoutCancel(ctx))
	defer func() {
		for _, w := range a.workers {
			_ = w.conn.Close(context.WithoutCancel(ctx))
		}
	}()

	stopProgress := a.startProgress(ctx)
	if len(opts.Parts) > 0 {
		a.startParts(ctx)
	} else if opts.Reopen != nil {
		a.ncursors = min(opts.Jobs-1, 3)
		for i := range a.ncursors {
			a.cursors.Add(1)
			go a.cursor(ctx, i+1)
		}
	}
	err = a.run(ctx, src)
	if err != nil {
		a.fail(err)
	}
	a.preOnce.Do(func() { close(a.preDone) })
	a.cursors.Wait()
	a.wg.Wait()
	stopProgress()
	if err == nil {
		err = a.firstErr()
	}
	res := a.result()
	res.Duration = time.Since(start)
	if sel != nil {
		res.DroppedForeignKeys = sel.DroppedForeignKeys()
	}
	if opts.Progress != nil {
		p := a.progress()
		p.Done = true
		opts.Progress(p)
	}
	if err != nil {
		return res, err
	}
	if err := res.verify(); err != nil {
		return res, err
	}
	return res, nil
}

func (r *Result) verify() error {
	var bad []string
	for _, t := range r.Tables {
		if t.DumpRows != t.CopiedRows {
			bad = append(bad, fmt.Sprintf("%s: dump has %d rows, copied %d", t.Table, t.DumpRows, t.CopiedRows))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrVerification, strings.Join(bad, "; "))
	}
	return nil
}

func (a *applier) fail(err error) {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	if a.err == nil {
		a.err = err
		a.cancel()
	}
}

func (a *applier) firstErr() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

// waitChange returns a channel closed at the next notify.
func (a *applier) waitChange() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

func (a *applier) notify() {
	a.mu.Lock()
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

func (a *applier) warn(msg string) {
	a.mu.Lock()
	a.warnings = append(a.warnings, msg)
	a.mu.Unlock()
	if a.opts.Warn != nil {
		a.opts.Warn(msg)
	}
}

func (a *applier) run(ctx context.Context, src source) error {
	var post []*extract.Entry
	copies := 0
	for {
		e, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := a.firstErr(); err != nil {
			return err
		}
		if err := gate(&e); err != nil {
			return err
		}
		a.entries.Add(1)
		if e.Phase != extract.PostData && e.Kind != extract.KindMeta {
			a.phase.Store(int32(e.Phase))
		}
		if e.Phase != extract.PreData && e.Kind != extract.KindMeta {
			a.preOnce.Do(func() { close(a.preDone) })
		}
		switch e.Kind {
		case extract.KindMeta:
			if err := a.meta(&e); err != nil {
				return err
			}
		case extract.KindCopy:
			copies++
			if !a.claim(copies, e.Table) {
				continue // another cursor loads it; Next skips the rows
			}
			if err := a.copy(ctx, &e, 0); err != nil {
				return err
			}
		case extract.KindStatement:
			if a.opts.Role != "" && e.Type == "EXTENSION" {
				if err := a.extension(ctx, &e); err != nil {
					return err
				}
				continue
			}
			if a.opts.Role != "" && isExtensionComment(&e) {
				a.warn(fmt.Sprintf("skipped %s: only the extension's owner may comment on it", e.FirstLine()))
				continue
			}
			if e.Phase == extract.PostData {
				post = append(post, &e)
				continue
			}
			if err := a.serial(ctx, a.main, &e); err != nil {
				return err
			}
		}
	}
	// Data may still be stored by COPY connections (and handed over by other cursors):
	// post-data waits for it per table.
	a.preOnce.Do(func() { close(a.preDone) })
	a.phase.Store(int32(extract.PostData))
	return a.postData(ctx, post)
}

func (a *applier) meta(e *extract.Entry) error {
	switch e.Command {
	case "restrict", "unrestrict":
		return nil
	case "connect":
		db := connectTarget(e.Arg)
		if db == "" || db == "-" || db == a.dbname {
			return nil
		}
		return fmt.Errorf("line %d: \\connect to database %q refused: a dump applies to one database", e.Line, db)
	}
	return fmt.Errorf("line %d: meta-command \\%s: %w", e.Line, e.Command, extract.ErrForbiddenMeta)
}

// connectTarget extracts the database name of a \connect argument: `db`, `"db"`,
// `-reuse-previous=on "dbname='db'"`.
func connectTarget(arg string) string {
	arg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(arg), "-reuse-previous=on"))
	arg = strings.TrimSpace(arg)
	if f := strings.Fields(arg); len(f) > 0 {
		arg = f[0]
	}
	arg = strings.Trim(arg, `"`)
	if v, ok := strings.CutPrefix(arg, "dbname="); ok {
		arg = strings.Trim(v, `'`)
	}
	if u, err := url.Parse(arg); err == nil && u.Scheme != "" {
		return strings.TrimPrefix(u.Path, "/")
	}
	return arg
}

// serial runs one statement on w in dump order.
func (a *applier) serial(ctx context.Context, w *worker, e *extract.Entry) error {
	if err := w.sync(ctx, &a.sess); err != nil {
		return err
	}
	err := w.exec(ctx, e.SQL)
	if isSessionSetting(e.SQL) {
		if err != nil && isUnknownSetting(err) {
			a.warn(fmt.Sprintf("skipped %s: %v", e.FirstLine(), err))
			return nil
		}
		if err == nil {
			a.sess.add(e.SQL)
			w.applied++
		}
	}
	if err != nil {
		return entryError(e, err)
	}
	if e.Type == "TABLE" {
		if q, ok := extract.TargetTable(e.SQL); ok && strings.HasPrefix(strings.ToUpper(e.SQL), "CREATE") {
			a.mu.Lock()
			a.created[q] = true
			a.mu.Unlock()
		}
	}
	return nil
}

func (a *applier) stat(q extract.QualifiedName) *tableStat {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.byName[q]
	if t == nil {
		t = &tableStat{table: q}
		a.byName[q] = t
		a.tables = append(a.tables, t)
	}
	return t
}

func (a *applier) result() *Result {
	res := &Result{
		Entries:       a.entries.Load(),
		BytesRead:     a.rd.BytesRead() + a.partBytes.Load(),
		TrailerSeen:   a.rd.TrailerSeen(),
		ServerVersion: a.rd.ServerVersion(),
		DumpVersion:   a.rd.DumpVersion(),
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	res.Warnings = append(res.Warnings, a.warnings...)
	for _, t := range a.tables {
		res.Tables = append(res.Tables, TableResult{Table: t.table, DumpRows: t.dumpRows.Load(),
			CopiedRows: t.copiedRows.Load(), Bytes: t.bytes.Load(), LoadedBy: int(t.loadedBy.Load())})
	}
	return res
}

func (a *applier) progress() Progress {
	p := Progress{
		Phase:     a.reportedPhase(), // parallel.go
		Entries:   a.entries.Load(),
		BytesRead: a.rd.BytesRead() + a.partBytes.Load(),
		Rows:      a.rows.Load(),
	}
	a.mu.Lock()
	for _, t := range a.tables {
		p.Tables = append(p.Tables, TableResult{Table: t.table, DumpRows: t.dumpRows.Load(),
			CopiedRows: t.copiedRows.Load(), Bytes: t.bytes.Load(), LoadedBy: int(t.loadedBy.Load())})
	}
	a.mu.Unlock()
	return p
}

func (a *applier) startProgress(ctx context.Context) func() {
	if a.opts.Progress == nil {
		return func() {}
	}
	return periodic.Every(ctx, a.opts.ProgressInterval, func(context.Context) bool {
		a.opts.Progress(a.progress())
		return true
	})
}

// gate refuses, again and fail closed, what verification refuses: an entry the
// statement gate refuses (extract.CheckEntry: COPY ... PROGRAM, ALTER SYSTEM, role and
// database DDL, SET ROLE, LOAD, anything after the completion trailer, ...). The error
// names the entry and its line. pg_dump --create output gets its own hint.
func gate(e *extract.Entry) error {
	if e.Kind == extract.KindStatement && (e.Type == "DATABASE" || isDatabaseStatement(e.SQL)) {
		// pg_dump --create output: it would create or alter databases beside the target.
		what := "DATABASE entry"
		if r := extract.ClassifyStatement(e.SQL); r != nil {
			what = r.What
		}
		return fmt.Errorf("%s: %s: a dump applies to one existing database (made with pg_dump --create?): %w",
			e.Describe(), e.FirstLine(), &extract.RefusedError{Line: e.Line, What: what})
	}
	if err := extract.CheckEntry(e); err != nil {
		return fmt.Errorf("%s: %w", e.Describe(), err)
	}
	return nil
}

// isDatabaseStatement reports CREATE/DROP/ALTER DATABASE statements, as the lexer
// sees them (comments before the words do not hide them).
func isDatabaseStatement(sql string) bool {
	r := extract.ClassifyStatement(sql)
	return r != nil && strings.HasSuffix(r.What, " DATABASE")
}

// claim reports whether the calling cursor takes COPY block k (1-based, in dump order).
// The claimant counts the block as pending for its table, so that once the main cursor
// has seen every block, a table with no pending block has all its data stored.
func (a *applier) claim(k int, table extract.QualifiedName) bool {
	a.claimMu.Lock()
	defer a.claimMu.Unlock()
	if a.claimed[k] {
		return false
	}
	a.claimed[k] = true
	a.stat(table).pending.Add(1)
	return true
}

// cursor is an extra reader of the dump: once pre-data is applied, it loads the COPY
// blocks no other cursor has taken and skips everything else.
func (a *applier) cursor(ctx context.Context, id int) {
	defer a.cursors.Done()
	select {
	case <-a.preDone:
	case <-ctx.Done():
		return
	}
	if a.firstErr() != nil {
		return
	}
	rc, err := a.opts.Reopen(ctx)
	if err != nil {
		a.fail(fmt.Errorf("reopen dump: %w", err))
		return
	}
	defer rc.Close()
	var src source = extract.NewReader(rc)
	if len(a.opts.Tables) > 0 {
		src = extract.Select(src.(*extract.Reader), a.opts.Tables)
	}
	copies := 0
	for {
		e, err := src.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			a.fail(err)
			return
		}
		if a.firstErr() != nil {
			return
		}
		if e.Kind != extract.KindCopy {
			continue
		}
		copies++
		if !a.claim(copies, e.Table) {
			continue
		}
		if err := a.copy(ctx, &e, id); err != nil {
			a.fail(err)
			return
		}
	}
}
