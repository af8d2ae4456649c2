package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// seedTickets inserts n tickets spread over the states, projects and
// requesters, a few of them running with progress.
func seedTickets(tb testing.TB, p *portal, n int) {
	tb.Helper()
	_, err := p.pool.Exec(context.Background(), `
		INSERT INTO tickets (source, subject, requester_email, project_ref, requested_at, state, mode, progress, created_at, updated_at)
		SELECT (ARRAY['email','portal','api'])[1 + i % 3],
			'Restore request ' || i,
			'customer' || (i % 500) || '@example.org',
			(ARRAY['proj-alpha','proj-bravo'])[1 + i % 2],
			now() - (i || ' minutes')::interval,
			CASE WHEN i % 1000 = 0 THEN 'running'
				ELSE (ARRAY['new','needs_info','ready','awaiting_approval','succeeded','succeeded','succeeded','failed',
					'cancelled','rejected','rolled_back'])[1 + i % 11] END,
			(ARRAY['destructive','new_project'])[1 + i % 2],
			CASE WHEN i % 1000 = 0 THEN '{"phase":"data","percent":42,"current_table":"public.orders"}'::jsonb END,
			now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval
		FROM generate_series(1, $1) AS i`, n)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.pool.Exec(context.Background(), `ANALYZE tickets`); err != nil {
		tb.Fatal(err)
	}
}

// latency requests path n times, one after another, over real HTTP with a
// logged-in session, and returns the p50 and p99.
func latency(tb testing.TB, b *browser, path string, n int) (p50, p99 time.Duration) {
	tb.Helper()
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n+20; i++ {
		start := time.Now()
		res, _ := b.get(path)
		d := time.Since(start)
		if res.StatusCode != http.StatusOK {
			tb.Fatalf("%s: %d", path, res.StatusCode)
		}
		if i >= 20 { // warm-up
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100]
}

// BenchmarkPageLatency seeds 10,000 tickets and measures the dashboard and
// the ticket list (first page, a filter, a search, a deep page) over HTTP.
// Run it with scripts/load-pages.sh.
func BenchmarkPageLatency(bm *testing.B) {
	// Request logging off: the figures are the server's, not the test log's.
	p := newPortalLog(bm, slog.New(slog.DiscardHandler))
	seedTickets(bm, p, 10000)
	b := p.login(bm, "viewer@example.com")
	pages := []string{"/", "/tickets", "/tickets?state=awaiting_approval", "/tickets?project=proj-alpha&state=succeeded",
		"/tickets?q=" + url.QueryEscape("request 99"), "/tickets?requester=customer7@example.org", "/tickets?page=150"}
	const n = 500
	bm.ResetTimer()
	for range bm.N {
		for _, path := range pages {
			p50, p99 := latency(bm, b, path, n)
			bm.Logf("%-50s p50 %6.2f ms   p99 %6.2f ms   (%d requests)", path, ms(p50), ms(p99), n)
			fmt.Printf("%-50s p50 %6.2f ms   p99 %6.2f ms   (%d requests)\n", path, ms(p50), ms(p99), n)
			if p99 > 50*time.Millisecond {
				bm.Errorf("%s: p99 %v over 50 ms", path, p99)
			}
		}
		// For information: four people at once (not held to the 50 ms).
		for _, path := range []string{"/", "/tickets"} {
			p50, p99 := concurrentLatency(bm, p, path, 4, 200)
			fmt.Printf("%-50s p50 %6.2f ms   p99 %6.2f ms   (4 clients x 200, for information)\n", path, ms(p50), ms(p99))
		}
	}
}

// concurrentLatency runs clients logged-in clients at once, n requests each,
// and returns the p50 and p99 over all requests.
func concurrentLatency(tb testing.TB, p *portal, path string, clients, n int) (p50, p99 time.Duration) {
	tb.Helper()
	bs := make([]*browser, clients)
	for i := range bs {
		bs[i] = p.login(tb, "viewer@example.com")
	}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() {
			ds := make([]time.Duration, 0, n)
			for range n {
				start := time.Now()
				res, err := b.c.Get(p.srv.URL + path)
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				ds = append(ds, time.Since(start))
			}
			mu.Lock()
			all = append(all, ds...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	return all[len(all)/2], all[len(all)*99/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
