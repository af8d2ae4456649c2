package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ProxyOptions shape what a Proxy does to the bytes coming back from the
// target (the downloads); what the client sends passes untouched.
type ProxyOptions struct {
	// Cuts is how many of the first connections are dropped, each after
	// CutAfter bytes came back, the way a flaky network drops a download.
	Cuts     int32
	CutAfter int64
	// BytesPerSecond, when above zero, limits each connection's download
	// rate, the way a slow link stretches a long restore.
	BytesPerSecond int64
}

// Proxy forwards TCP connections to target as opts says and returns its
// address; it stops when the test ends.
func Proxy(t testing.TB, target string, opts ProxyOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var cutsLeft atomic.Int32
	cutsLeft.Store(opts.Cuts)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c) //nolint:errcheck
				var down io.Reader = up
				if opts.BytesPerSecond > 0 {
					down = &throttled{r: up, rate: opts.BytesPerSecond, start: time.Now()}
				}
				if cutsLeft.Add(-1) >= 0 {
					io.CopyN(c, down, opts.CutAfter) //nolint:errcheck
					return                           // drop both sides mid-response
				}
				io.Copy(c, down) //nolint:errcheck
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// CutProxy is a Proxy that drops each of the first cuts connections after
// after bytes came back.
func CutProxy(t testing.TB, target string, after int64, cuts int32) string {
	t.Helper()
	return Proxy(t, target, ProxyOptions{Cuts: cuts, CutAfter: after})
}

// throttled delivers at most rate bytes a second since start.
type throttled struct {
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (t *throttled) Read(p []byte) (int, error) {
	if max := t.rate / 10; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	if ahead := time.Duration(float64(t.n)/float64(t.rate)*float64(time.Second)) - time.Since(t.start); ahead > 0 {
		time.Sleep(ahead)
	}
	return n, err
}
