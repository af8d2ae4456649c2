package restore_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/testenv"
)

// partsSQL adds to the correctness bar's database a 9 MB row, a table of
// ~11 MB that spans several checkpoints (one per MiB here), a mid-sized one,
// and a foreign key between parts (the TRUNCATE before COPY FREEZE of a
// referenced table fails once the key exists: post-data must wait for data).
const partsSQL = `
CREATE TABLE public.wide (id int PRIMARY KEY, body text);
INSERT INTO public.wide SELECT 1, string_agg(md5(g::text), '') FROM generate_series(1, 9*1024*1024/32) g;
INSERT INTO public.wide VALUES (2, 'small');
CREATE TABLE public.long (id int PRIMARY KEY, v text, wide_id int REFERENCES public.wide(id));
INSERT INTO public.long SELECT g, md5(g::text) || E'\t' || md5((g*7)::text), 1 + g % 2 FROM generate_series(1, 150000) g;
CREATE INDEX long_v ON public.long (v);
CREATE TABLE public.mid (id bigint PRIMARY KEY, v text);
INSERT INTO public.mid SELECT g, repeat(md5(g::text), 2) FROM generate_series(1, 40000) g;
`

// indexed is a gzipped dump with its access index, checkpoints every MiB.
type indexed struct {
	plain string
	gz    []byte
	idx   *seekgz.Index
}

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func indexPlain(t testing.TB, plain string) indexed {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, 6)
	zw.Write([]byte(plain))
	zw.Close()
	z, err := seekgz.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b := seekgz.NewBuilder(z)
	b.Every, b.Near = 1<<20, 128<<10
	c := &counter{r: z}
	if _, err := extract.InventoryFunc(c, indexEntry(&seekgz.DumpIndexer{B: b})); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal(err)
	}
	return indexed{plain: plain, gz: buf.Bytes(), idx: b.Index("etag", int64(buf.Len()), c.n)}
}

func (d indexed) fetch(start, end int64) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(d.gz[start:end])), nil
}

// split is the main stream and the parts of spans of at least minPart bytes,
// each read from its checkpoint; wrap, if set, wraps every part's reader.
func (d indexed) split(minPart int64, wrap func(io.Reader) io.Reader) (io.Reader, []restore.Part) {
	main, spans := d.idx.Split(minPart)
	var parts []restore.Part
	for _, sp := range seekgz.Largest(spans) {
		r := []seekgz.Range{{Start: sp.Start, End: sp.End}}
		parts = append(parts, restore.Part{Table: extract.QualifiedName{Schema: sp.Schema, Name: sp.Name}, Bytes: sp.End - sp.Start,
			Open: func(context.Context) (io.ReadCloser, error) {
				rr := d.idx.Open(r, d.fetch)
				if wrap == nil {
					return rr, nil
				}
				return struct {
					io.Reader
					io.Closer
				}{wrap(rr), rr}, nil
			}})
	}
	return d.idx.Open(main, d.fetch), parts
}

var partsFixture struct {
	sync.Mutex
	d    *indexed
	want string
}

// partsDump is the pg_dump of the correctness bar plus partsSQL, indexed;
// built once for the tests that share it.
func partsDump(t *testing.T) (indexed, string) {
	t.Helper()
	partsFixture.Lock()
	defer partsFixture.Unlock()
	if partsFixture.d == nil {
		src := sourceDatabase(t)
		execSQL(t, src, partsSQL)
		plain := pgDump(t, src)
		d := indexPlain(t, plain)
		partsFixture.d, partsFixture.want = &d, normalize(plain)
	}
	return *partsFixture.d, partsFixture.want
}

func queryRow(t *testing.T, url, sql string, dst ...any) {
	t.Helper()
	scanRow(t, url, sql, nil, dst...)
}

// TestApplyInPartsEqualsSequential: a full restore whose large tables' data
// is read in parts from their checkpoints, on 1 or 2 readers (more in the property test), restores the
// same database as the sequential read of the same dump (pg_dump of both).
func TestApplyInPartsEqualsSequential(t *testing.T) {
	t.Parallel()
	d, want := partsDump(t)
	seq := testenv.NewDatabase(t)
	if _, err := apply(t, d.plain, seq, restore.Options{Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	if got := normalize(pgDump(t, seq)); got != want {
		t.Fatalf("sequential restore differs from the source:\n%s", testenv.DiffLines(want, got))
	}
	_, spans := d.idx.Split(256 << 10)
	var names []string
	for _, sp := range spans {
		names = append(names, sp.Name)
	}
	for _, n := range []string{"wide", "long", "mid"} {
		if !slices.Contains(names, n) {
			t.Fatalf("table %s is not a part: %v", n, names)
		}
	}
	if cps := checkpointsIn(d.idx, "long"); cps < 3 {
		t.Fatalf("table long spans %d checkpoints, want several", cps)
	}
	for _, readers := range []int{1, 2} {
		t.Run("readers="+itoa(readers), func(t *testing.T) {
			t.Parallel()
			dst := testenv.NewDatabase(t)
			main, parts := d.split(256<<10, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := restore.Apply(ctx, main, restore.Options{DatabaseURL: dst, Jobs: 2, Readers: readers, Parts: parts})
			if err != nil {
				t.Fatal(err)
			}
			if got := normalize(pgDump(t, dst)); got != want {
				t.Fatalf("restore in parts differs from the source:\n%s", testenv.DiffLines(want, got))
			}
			if !res.TrailerSeen || res.BytesRead != int64(len(d.plain)) {
				t.Errorf("trailer %v, read %d of %d bytes", res.TrailerSeen, res.BytesRead, len(d.plain))
			}
			for _, tr := range res.Tables {
				if slices.Contains(names, tr.Table.Name) && tr.LoadedBy == 0 {
					t.Errorf("%s was loaded by the main reader, not a part reader", tr.Table)
				}
			}
		})
	}
}

// seededRand is a generator seeded from the clock, stream stream; the test
// logs the seed, so a failing run can be repeated.
func seededRand(t *testing.T, stream uint64) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, stream))
}

// applyShuffled applies main into a new database with its parts handed to
// Apply in a random order (opts' database and parts are set here), within
// three minutes; it returns the database and Apply's outcome.
func applyShuffled(t *testing.T, rng *rand.Rand, main io.Reader, parts []restore.Part, opts restore.Options) (string, *restore.Result, error) {
	t.Helper()
	rng.Shuffle(len(parts), func(a, b int) { parts[a], parts[b] = parts[b], parts[a] })
	opts.DatabaseURL, opts.Parts = testenv.NewDatabase(t), parts
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := restore.Apply(ctx, main, opts)
	return opts.DatabaseURL, res, err
}

func checkpointsIn(idx *seekgz.Index, table string) int {
	n := 0
	for _, sp := range idx.Spans {
		if sp.Name != table {
			continue
		}
		for _, cp := range idx.Checkpoints {
			if cp.Out > sp.Start && cp.Out < sp.End {
				n++
			}
		}
	}
	return n
}

// TestApplyInPartsHandOffProperty: whatever the order parts are taken in, the
// number of readers, and how their bytes trickle in (one byte, half reads),
// pre-data is applied before any part's rows and post-data on a table only
// after its part: the restored database is always the source's.
func TestApplyInPartsHandOffProperty(t *testing.T) {
	t.Parallel()
	d, want := partsDump(t)
	rng := seededRand(t, 1)
	for i := range 3 {
		readers, jobs := 1+rng.IntN(4), 1+rng.IntN(3)
		minPart := []int64{1, 64 << 10, 256 << 10, 4 << 20}[rng.IntN(4)]
		slow := rng.IntN(3)
		wrap := func(r io.Reader) io.Reader {
			switch slow {
			case 1:
				return iotest.HalfReader(r)
			case 2:
				return iotest.OneByteReader(r)
			}
			return r
		}
		main, parts := d.split(minPart, wrap)
		dst, _, err := applyShuffled(t, rng, main, parts, restore.Options{Jobs: jobs, Readers: readers, MemoryBudget: int64(1+rng.IntN(8)) << 20})
		if err != nil {
			t.Fatalf("run %d (readers %d, jobs %d, min part %d, %d parts, slow %d): %v", i, readers, jobs, minPart, len(parts), slow, err)
		}
		if got := normalize(pgDump(t, dst)); got != want {
			t.Fatalf("run %d (readers %d, jobs %d, min part %d, %d parts): differs:\n%s", i, readers, jobs, minPart, len(parts), testenv.DiffLines(want, got))
		}
	}
}

// TestApplyInPartsRefusesHostileParts: a part holds exactly one COPY block of
// its table; anything else in it, and anything the gate refuses, fails the
// restore closed. Content refused before the part's COPY block stores no row;
// content after a whole block (two blocks, a statement after) is seen only
// once that block was sent, so its rows may be stored by then, as they are
// for a refusal later in the main stream: the restore fails and its caller
// drops the staging or new database it was applied into.
func TestApplyInPartsRefusesHostileParts(t *testing.T) {
	t.Parallel()
	const pre = "CREATE TABLE public.a (id int);\nCREATE TABLE public.b (id int);\n"
	const main = pre + "--\n-- PostgreSQL database dump complete\n--\n\n"
	hdr := func(n string) string {
		return "--\n-- Data for Name: " + n + "; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n"
	}
	for _, tc := range []struct {
		name, part string
		refused    bool
		afterBlock int // rows a whole COPY block before the refused content may have stored
	}{
		{"statement", hdr("a") + "ALTER SYSTEM SET fsync = off;\n", true, 0},
		{"grant in front", "GRANT ALL ON public.a TO PUBLIC;\n" + hdr("a") + "COPY public.a (id) FROM stdin;\n1\n\\.\n", true, 0},
		{"copy program", hdr("a") + "COPY public.a (id) FROM PROGRAM 'id';\n", true, 0},
		{"meta-command", hdr("a") + "\\! id\n", true, 0},
		{"another table", hdr("b") + "COPY public.b (id) FROM stdin;\n1\n\\.\n", true, 0},
		{"two blocks", hdr("a") + "COPY public.a (id) FROM stdin;\n1\n\\.\n\n" + hdr("a") + "COPY public.a (id) FROM stdin;\n2\n\\.\n", true, 1},
		{"statement after", hdr("a") + "COPY public.a (id) FROM stdin;\n1\n\\.\n\nDROP TABLE public.b;\n", true, 1},
		{"empty", "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := testenv.NewDatabase(t)
			part := restore.Part{Table: extract.QualifiedName{Schema: "public", Name: "a"},
				Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(tc.part)), nil }}
			_, err := apply(t, main, dst, restore.Options{Jobs: 2, Parts: []restore.Part{part}})
			var re *extract.RefusedError
			if err == nil || tc.refused && !errors.As(err, &re) && !errors.Is(err, extract.ErrForbiddenMeta) {
				t.Fatalf("want a refusal, got %v", err)
			}
			if !strings.Contains(err.Error(), "public.a") {
				t.Errorf("error does not name the part's table: %v", err)
			}
			var rows int
			queryRow(t, dst, "SELECT (SELECT count(*) FROM public.a) + (SELECT count(*) FROM public.b)", &rows)
			if rows > tc.afterBlock {
				t.Errorf("%d rows stored from a refused part, want at most %d", rows, tc.afterBlock)
			}
			queryRow(t, dst, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", &rows)
			if rows != 2 {
				t.Errorf("%d public tables, want 2 (nothing dropped)", rows)
			}
		})
	}
}

var errBroken = errors.New("connection reset (test)")

// failingReader fails after n bytes.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBroken
	}
	n, err := f.r.Read(p[:min(len(p), f.n)])
	f.n -= n
	return n, err
}

// stuckReader blocks until its context ends: a part whose S3 read hangs.
type stuckReader struct {
	ctx    context.Context
	closed chan struct{}
	once   sync.Once
}

func (s *stuckReader) Read([]byte) (int, error) {
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

func (s *stuckReader) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

// TestApplyInPartsReaderFailureCancelsTheOthers: one part's read breaks a
// megabyte in while another is stuck; Apply fails with the broken one's
// error, the stuck read is cancelled and closed, and nothing hangs.
func TestApplyInPartsReaderFailureCancelsTheOthers(t *testing.T) {
	t.Parallel()
	d, _ := partsDump(t)
	main, parts := d.split(256<<10, nil)
	stuck := &stuckReader{closed: make(chan struct{})}
	for i := range parts {
		switch parts[i].Table.Name {
		case "long":
			open := parts[i].Open
			parts[i].Open = func(ctx context.Context) (io.ReadCloser, error) {
				rc, err := open(ctx)
				return struct {
					io.Reader
					io.Closer
				}{&failingReader{r: rc, n: 1 << 20}, rc}, err
			}
		case "wide":
			parts[i].Open = func(ctx context.Context) (io.ReadCloser, error) {
				stuck.ctx = ctx
				return stuck, nil
			}
		}
	}
	dst := testenv.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := restore.Apply(ctx, main, restore.Options{DatabaseURL: dst, Jobs: 2, Readers: 3, Parts: parts})
	if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), "public.long") {
		t.Fatalf("want the broken part's error, got %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Apply returned only at the test's deadline")
	}
	select {
	case <-stuck.closed:
	default:
		t.Fatal("the stuck part's reader was not closed")
	}
	// Every connection Apply opened is gone (the server notices a closed
	// session shortly after, so poll).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		queryRow(t, dst, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", &n)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of the failed restore still open", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// partGate blocks its first Read until release is closed.
type partGate struct {
	r       io.Reader
	release chan struct{}
}

func (g *partGate) Read(p []byte) (int, error) {
	<-g.release
	return g.r.Read(p)
}

// TestApplyInPartsReportsDataUntilThePartsAreRead: the main stream reaches
// post-data long before a big part is read; progress still says data (what
// staff, and the fault tests waiting for the data phase, look at).
func TestApplyInPartsReportsDataUntilThePartsAreRead(t *testing.T) {
	t.Parallel()
	const main = "CREATE TABLE public.a (id int);\n\n--\n-- Name: a_id; Type: INDEX; Schema: public; Owner: -\n--\n\nCREATE INDEX a_id ON public.a (id);\n\n--\n-- PostgreSQL database dump complete\n--\n\n"
	const part = "--\n-- Data for Name: a; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.a (id) FROM stdin;\n1\n2\n\\.\n\n"
	release := make(chan struct{})
	var mu sync.Mutex
	var phases []extract.Phase
	ticks := 0
	dst := testenv.NewDatabase(t)
	res, err := apply(t, main, dst, restore.Options{Jobs: 2, ProgressInterval: 5 * time.Millisecond,
		Parts: []restore.Part{{Table: extract.QualifiedName{Schema: "public", Name: "a"},
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(&partGate{r: strings.NewReader(part), release: release}), nil
			}}},
		Progress: func(p restore.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if p.Done || p.Entries < 2 { // both main entries read: the main stream is at post-data
				return
			}
			phases = append(phases, p.Phase)
			if ticks++; ticks == 40 {
				close(release)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, ph := range phases[:40] {
		if ph != extract.Data {
			t.Fatalf("progress %d while the part was unread: %s, want data", i, ph)
		}
	}
	if res.Tables[0].CopiedRows != 2 {
		t.Errorf("copied %d rows", res.Tables[0].CopiedRows)
	}
}

// indexEntry hands the dump reader's entries to the access index builder, as
// verification does.
func indexEntry(d *seekgz.DumpIndexer) func(*extract.Entry) {
	return func(e *extract.Entry) {
		d.Entry(seekgz.DumpEntry{Offset: e.Offset, AfterTrailer: e.AfterTrailer, Copy: e.Kind == extract.KindCopy,
			Schema: e.Table.Schema, Name: e.Table.Name})
	}
}
