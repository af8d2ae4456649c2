package restore_test

import (
	"context"
	_ "embed"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/testenv"
)

//go:embed testdata/source.sql
var sourceSQL string

// sourceDatabase creates a database holding every feature of the correctness bar.
func sourceDatabase(t *testing.T) string {
	t.Helper()
	url := testenv.NewDatabase(t)
	execSQL(t, url, sourceSQL)
	return url
}

// connect opens a session of url for the test; the caller closes it.
func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func execSQL(t testing.TB, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	defer conn.Close(ctx)
	if _, err := conn.PgConn().Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatal(err)
	}
}

// scanRow runs sql with args on a session of url of its own and scans its
// one row into dst.
func scanRow(t testing.TB, url, sql string, args []any, dst ...any) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql, args...).Scan(dst...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pgDump runs the cluster's pg_dump (tests only; the restore path never shells out).
func pgDump(t testing.TB, url string, args ...string) string {
	t.Helper()
	bin := filepath.Join(testenv.PGBin(t), "pg_dump")
	args = append([]string{"--no-owner", "--no-privileges", "-d", url}, args...)
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("pg_dump: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("pg_dump: %v", err)
	}
	return string(out)
}

// normalize drops the lines that legitimately differ between two dumps of equal
// databases: the random \restrict/\unrestrict keys and the version headers.
func normalize(dump string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(dump, "\n") {
		switch {
		case strings.HasPrefix(line, `\restrict `), strings.HasPrefix(line, `\unrestrict `),
			strings.HasPrefix(line, "-- Dumped from database version "),
			strings.HasPrefix(line, "-- Dumped by pg_dump version "):
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

func apply(t *testing.T, dump, target string, opts restore.Options) (*restore.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts.DatabaseURL = target
	return restore.Apply(ctx, strings.NewReader(dump), opts)
}

func TestApplyRoundTrip(t *testing.T) {
	t.Parallel()
	src := sourceDatabase(t)
	dump := pgDump(t, src)
	want := normalize(dump)
	for _, tc := range []struct {
		jobs   int
		reopen bool
	}{{1, false}, {4, false}, {2, true}, {4, true}} {
		t.Run("jobs="+strconv.Itoa(tc.jobs)+" reopen="+strconv.FormatBool(tc.reopen), func(t *testing.T) {
			t.Parallel()
			dst := testenv.NewDatabase(t)
			var progressed bool
			opts := restore.Options{Jobs: tc.jobs, Progress: func(p restore.Progress) {
				if p.Done {
					progressed = true
				}
			}}
			if tc.reopen {
				opts.Reopen = reopen(dump)
			}
			res, err := apply(t, dump, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := normalize(pgDump(t, dst)); got != want {
				t.Errorf("pg_dump of restored database differs from source:\n%s", testenv.DiffLines(want, got))
			}
			if !progressed {
				t.Error("no final progress event")
			}
			if !res.TrailerSeen || len(res.Warnings) != 0 {
				t.Errorf("trailer %v, warnings %q", res.TrailerSeen, res.Warnings)
			}
			rows := map[string]int64{}
			for _, tr := range res.Tables {
				if tr.DumpRows != tr.CopiedRows {
					t.Errorf("%s: dump %d copied %d", tr.Table, tr.DumpRows, tr.CopiedRows)
				}
				rows[tr.Table.String()] = tr.CopiedRows
			}
			for table, n := range map[string]int64{"auth.users": 3, "storage.buckets": 3, `public."User Events_2025"`: 2, "public.empty_table": 0, "ai.documents": 2} {
				if rows[table] != n {
					t.Errorf("%s: copied %d rows, want %d (all: %v)", table, rows[table], n, rows)
				}
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	t.Parallel()
	header := "SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n"
	for _, tc := range []struct {
		name, dump string
		check      func(t *testing.T, res *restore.Result, err error)
	}{
		{
			name: "unknown setting is skipped with a warning",
			dump: header + "SET transaction_timeout = 0;\nCREATE TABLE t (a int);\n",
			check: func(t *testing.T, res *restore.Result, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "transaction_timeout") {
					t.Errorf("warnings = %q", res.Warnings)
				}
			},
		},
		{
			name: "failing statement names the entry and wraps the server error",
			dump: header + "--\n-- Name: t; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE t (a nosuchtype,\n b int);\n",
			check: func(t *testing.T, res *restore.Result, err error) {
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || pgErr.Code != "42704" {
					t.Fatalf("err = %v, want wrapped PgError 42704", err)
				}
				if !strings.Contains(err.Error(), `TABLE "t" (line 7)`) || !strings.Contains(err.Error(), "CREATE TABLE t (a nosuchtype,") {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "shell escape is refused",
			dump: header + "\\! rm -rf /\n",
			check: func(t *testing.T, res *restore.Result, err error) {
				if !errors.Is(err, extract.ErrForbiddenMeta) || !strings.Contains(err.Error(), "line 3") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "connect to another database is refused",
			dump: header + "\\connect postgres\nCREATE TABLE t (a int);\n",
			check: func(t *testing.T, res *restore.Result, err error) {
				if err == nil || !strings.Contains(err.Error(), `\connect to database "postgres" refused`) {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "pg_dump --create output is refused",
			dump: header + "--\n-- Name: x; Type: DATABASE; Schema: -; Owner: -\n--\n\nCREATE DATABASE x WITH TEMPLATE = template0;\n",
			check: func(t *testing.T, res *restore.Result, err error) {
				if err == nil || !strings.Contains(err.Error(), "DATABASE \"x\" (line 7): CREATE DATABASE x") {
					t.Fatalf("err = %v", err)
				}
			},
		},
		{
			name: "bad copy data fails naming the table",
			dump: header + "CREATE TABLE t (a int);\nCOPY public.t (a) FROM stdin;\n1\nx\n\\.\n",
			check: func(t *testing.T, res *restore.Result, err error) {
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || !strings.Contains(err.Error(), "COPY public.t (a) FROM stdin;") {
					t.Fatalf("err = %v", err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := apply(t, tc.dump, testenv.NewDatabase(t), restore.Options{Jobs: 2})
			tc.check(t, res, err)
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestApplyNeverTruncatesExistingTables: COPY into a table this run did not create
// appends; only tables created by the restore are truncated (for COPY FREEZE).
func TestApplyNeverTruncatesExistingTables(t *testing.T) {
	t.Parallel()
	dst := testenv.NewDatabase(t)
	execSQL(t, dst, "CREATE TABLE public.t (a int); INSERT INTO public.t VALUES (1);")
	if _, err := apply(t, "COPY public.t (a) FROM stdin;\n2\n\\.\n", dst, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	var n int
	if queryRow(t, dst, "SELECT count(*) FROM public.t", &n); n != 2 {
		t.Fatalf("rows = %d; want 2", n)
	}
}

// reopen serves the dump again for Apply's extra cursors.
func reopen(dump string) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(dump)), nil
	}
}

// TestApplyLongRows streams rows longer than every buffer on the way (reader buffer,
// chunk, pgconn's copy buffer) through COPY.
func TestApplyLongRows(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ab\\tc", 1<<20) // 5 MiB in the dump, 4 MiB stored
	dump := "CREATE TABLE public.big (id int, t text);\nCOPY public.big (id, t) FROM stdin;\n1\t" + long + "\n2\t\\N\n3\t" + long + "x\n\\.\n"
	dst := testenv.NewDatabase(t)
	res, err := apply(t, dump, dst, restore.Options{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tables) != 1 || res.Tables[0].CopiedRows != 3 {
		t.Fatalf("tables = %+v", res.Tables)
	}
	var sum int64
	if queryRow(t, dst, "SELECT sum(length(t)) FROM public.big", &sum); sum != 2*4<<20+1 {
		t.Fatalf("stored length %d; want %d", sum, 2*4<<20+1)
	}
}

// gatedReader serves a dump in small reads and blocks before byte gate until open is
// closed, so that Apply's main reader stalls and the extra cursor must load the rest.
type gatedReader struct {
	s    string
	off  int
	gate int
	open chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.off >= len(g.s) {
		return 0, io.EOF
	}
	if g.off >= g.gate {
		<-g.open
	}
	end := min(len(g.s), g.off+4096, len(p)+g.off)
	if g.off < g.gate {
		end = min(end, g.gate)
	}
	n := copy(p, g.s[g.off:end])
	g.off += n
	return n, nil
}

// TestApplyExtraCursor stalls the main reader after the first COPY block: the extra
// cursor (Options.Reopen) must load the other tables, and the result must still be
// identical to the source.
func TestApplyExtraCursor(t *testing.T) {
	t.Parallel()
	src := sourceDatabase(t)
	dump := pgDump(t, src)
	first := strings.Index(dump, "\nCOPY ")
	second := first + 1 + strings.Index(dump[first+1:], "\nCOPY ")
	main := &gatedReader{s: dump, gate: second, open: make(chan struct{})}
	var once sync.Once
	opts := restore.Options{Jobs: 2, DatabaseURL: testenv.NewDatabase(t), Reopen: func(context.Context) (io.ReadCloser, error) {
		return eofSignal{strings.NewReader(dump), func() { once.Do(func() { close(main.open) }) }}, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := restore.Apply(ctx, main, opts)
	if err != nil {
		t.Fatal(err)
	}
	byCursor := map[int]int{}
	for _, tr := range res.Tables {
		byCursor[tr.LoadedBy]++
	}
	// The main reader is held before the second table's data, so the cursor
	// loads every table after the first; the first goes to whichever reaches
	// it first (the cursor may, when the main reader is slow to start).
	if byCursor[0] > 1 || byCursor[1] < len(res.Tables)-1 || byCursor[0]+byCursor[1] != len(res.Tables) {
		t.Errorf("tables loaded per cursor = %v, want at most the first by the main reader and the rest by cursor 1", byCursor)
	}
	if got, want := normalize(pgDump(t, opts.DatabaseURL)), normalize(dump); got != want {
		t.Errorf("pg_dump of restored database differs from source:\n%s", testenv.DiffLines(want, got))
	}
}

// eofSignal calls done when its reader reaches EOF.
type eofSignal struct {
	r    io.Reader
	done func()
}

func (e eofSignal) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.done()
	}
	return n, err
}

func (e eofSignal) Close() error { return nil }
