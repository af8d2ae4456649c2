package compare_test

import (
	"context"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/compare"
)

// benchPair is two databases holding public.bench of COMPARE_BENCH_ROWS rows
// (default 100,000; scripts/bench-compare.sh uses 1,000,000), one in 1,000
// changed on the live side.
func benchPair(b *testing.B) (*pgx.Conn, *pgx.Conn, int) {
	b.Helper()
	rows := 100_000
	if v, err := strconv.Atoi(os.Getenv("COMPARE_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	n := strconv.Itoa(rows)
	live, snap := pair(b, `CREATE TABLE public.bench (id bigint PRIMARY KEY, customer int NOT NULL, note text, amount numeric(12,2), at timestamptz);
		INSERT INTO public.bench SELECT g, g % 5000, 'order note ' || md5(g::text), (g % 10000) / 100.0, '2026-01-01'::timestamptz + g * interval '1 minute'
			FROM generate_series(1, `+n+`) g;
		ANALYZE public.bench`, `UPDATE public.bench SET note = 'changed' WHERE id % 1000 = 0`, ``)
	return live, snap, rows
}

// BenchmarkCompare runs, on the same pair of tables (read once first, so
// both start warm with hint bits set): the comparison ("table", and
// "server-hash" with md5 computed by the server) and the baseline the issue
// names, COPY ... TO of the table on both sides at once ("copy-both-sides").
func BenchmarkCompare(b *testing.B) {
	live, snap, rows := benchPair(b)
	ctx := context.Background()
	copyBoth := func(b *testing.B) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, c := range []*pgx.Conn{live, snap} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = c.PgConn().CopyTo(ctx, io.Discard, "COPY public.bench TO STDOUT")
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	copyBoth(b)
	for _, bc := range []struct {
		name string
		run  func(b *testing.B)
	}{
		{"table", func(b *testing.B) { compareOnce(b, live, snap, rows, false) }},
		{"server-hash", func(b *testing.B) { compareOnce(b, live, snap, rows, true) }},
		{"copy-both-sides", copyBoth},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bc.run(b)
			}
			b.ReportMetric(float64(rows), "rows")
		})
	}
}

func compareOnce(b *testing.B, live, snap *pgx.Conn, rows int, serverHash bool) {
	r, err := compare.Table(context.Background(), live, snap, "public", "bench", compare.Options{ServerHash: serverHash})
	if err != nil {
		b.Fatal(err)
	}
	if r.Differ.Count != int64(rows/1000) {
		b.Fatalf("differ %d", r.Differ.Count)
	}
}
