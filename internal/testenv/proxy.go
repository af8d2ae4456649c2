package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// CutProxy forwards TCP connections to target and cuts each of the first
// cuts connections after it has sent after bytes back to the client, the way
// a flaky network drops a download mid-stream. It returns the proxy's
// address; it stops when the test ends.
func CutProxy(t testing.TB, target string, after int64, cuts int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var left atomic.Int32
	left.Store(cuts)
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
				if left.Add(-1) >= 0 {
					io.CopyN(c, up, after) //nolint:errcheck
					return                 // drop both sides mid-response
				}
				io.Copy(c, up) //nolint:errcheck
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}
