package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// FaultOptions shape a FaultProxy.
type FaultOptions struct {
	// OutageAfter, when above zero, starts an outage once that many bytes came back
	// on the first connection: every open connection is cut and new ones are refused
	// until EndOutage.
	OutageAfter int64
	// StallAfter, with Stalls above zero, makes each of the first Stalls connections
	// stop delivering once StallAfter bytes came back, holding the connection open
	// and silent until the client gives up, the way a dead peer behind a NAT does.
	StallAfter int64
	Stalls     int32
}

// FaultProxy forwards TCP connections to a target and injects outages and stalls.
// It tells the test what it did through channels, so tests wait for events rather
// than for time to pass.
type FaultProxy struct {
	// Addr is the proxy's host:port.
	Addr string

	opts       FaultOptions
	refusing   atomic.Bool
	outageDone atomic.Bool // the outage of OutageAfter has begun (once)
	stallsLeft atomic.Int32
	accepted   atomic.Int32
	refused    chan struct{}
	stalled    chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// NewFaultProxy starts a FaultProxy to target; it stops when the test ends.
func NewFaultProxy(t testing.TB, target string, opts FaultOptions) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{Addr: ln.Addr().String(), opts: opts, conns: map[net.Conn]bool{},
		refused: make(chan struct{}, 1024), stalled: make(chan struct{}, 1024)}
	p.stallsLeft.Store(opts.Stalls)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.refusing.Load() {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // a reset, as from a host that is down
				}
				c.Close()
				notify(p.refused)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(c, stop, target)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(stop)
		p.cutAll()
		wg.Wait()
	})
	return p
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Refused receives a value for each connection refused during an outage.
func (p *FaultProxy) Refused() <-chan struct{} { return p.refused }

// Stalled receives a value each time a connection goes silent.
func (p *FaultProxy) Stalled() <-chan struct{} { return p.stalled }

// Accepted is how many connections were forwarded.
func (p *FaultProxy) Accepted() int { return int(p.accepted.Load()) }

// StartOutage cuts every open connection and refuses new ones until EndOutage.
func (p *FaultProxy) StartOutage() {
	p.refusing.Store(true)
	p.cutAll()
}

// EndOutage accepts connections again.
func (p *FaultProxy) EndOutage() { p.refusing.Store(false) }

func (p *FaultProxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *FaultProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *FaultProxy) serve(c net.Conn, stop <-chan struct{}, target string) {
	defer c.Close()
	p.track(c, true)
	defer p.track(c, false)
	n := p.accepted.Add(1)
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	clientGone := make(chan struct{})
	go func() {
		io.Copy(up, c) //nolint:errcheck
		close(clientGone)
	}()
	limit := int64(-1)
	stall := false
	if p.stallsLeft.Add(-1) >= 0 {
		limit, stall = p.opts.StallAfter, true
	}
	outage := n == 1 && p.opts.OutageAfter > 0
	if outage && (limit < 0 || p.opts.OutageAfter < limit) {
		limit, stall = p.opts.OutageAfter, false
	}
	if limit < 0 {
		io.Copy(c, up) //nolint:errcheck
		return
	}
	if _, err := io.CopyN(c, up, limit); err != nil {
		return
	}
	if !stall {
		if p.outageDone.CompareAndSwap(false, true) {
			p.StartOutage()
		}
		return
	}
	notify(p.stalled)
	select { // silent until the client or the test gives up
	case <-clientGone:
	case <-stop:
	}
}
