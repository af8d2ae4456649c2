package web_test

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// cacherGoroutines counts the River UI query cachers' goroutines running in
// this test binary.
func cacherGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "querycacher.(*QueryCacher")
}

// TestRiverUIStopsWithTheServer: the River UI started by an admin's visit
// runs query cachers that poll the pool every 10 s; the function NewServer
// returns (the portal's shutdown and the test fixture call it before the
// pool closes) ends them. Not parallel: it counts the binary's goroutines.
func TestRiverUIStopsWithTheServer(t *testing.T) {
	before := cacherGoroutines()
	p := newPortal(t)
	admin := p.login(t, "admin@example.com")
	if res, _ := admin.get("/riverui/"); res.StatusCode != http.StatusOK {
		t.Fatalf("GET /riverui/: %d", res.StatusCode)
	}
	if n := cacherGoroutines(); n <= before {
		t.Fatalf("no River UI query cacher runs after a visit (%d before, %d now)", before, n)
	}
	p.stop()
	stopped := time.Now()
	defer func() { t.Logf("cachers ended %v after the stop", time.Since(stopped)) }()
	deadline := time.Now().Add(10 * time.Second)
	for cacherGoroutines() > before {
		if time.Now().After(deadline) {
			t.Fatalf("River UI query cachers still run 10 s after the stop (%d, %d before)", cacherGoroutines(), before)
		}
		time.Sleep(20 * time.Millisecond) // polling the condition, with a deadline
	}
}
