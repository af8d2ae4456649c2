package periodic_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/periodic"
)

// TestEveryRunsUntilFReturnsFalse: f is called again and again, and the
// goroutine ends the first time it returns false.
func TestEveryRunsUntilFReturnsFalse(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	ended := make(chan struct{})
	stop := periodic.Every(context.Background(), time.Millisecond, func(context.Context) bool {
		if calls.Add(1) == 3 {
			close(ended)
			return false
		}
		return true
	})
	<-ended
	stop() // returns: the goroutine has ended
	if n := calls.Load(); n != 3 {
		t.Fatalf("f ran %d times after returning false on the 3rd call", n)
	}
}

// TestEveryStopCancelsTheCallInFlightAndWaits: stop ends the ctx of a call
// that is running and returns only after that call has returned.
func TestEveryStopCancelsTheCallInFlightAndWaits(t *testing.T) {
	t.Parallel()
	running := make(chan struct{})
	var returned atomic.Bool
	stop := periodic.Every(context.Background(), time.Millisecond, func(ctx context.Context) bool {
		close(running)
		<-ctx.Done()
		returned.Store(true)
		return true
	})
	<-running
	stop()
	if !returned.Load() {
		t.Fatal("stop returned while f was still running")
	}
}

// TestEveryEndsWithItsContext: when the caller's ctx ends, the ctx f was
// given ends with it, and stop returns (the goroutine has ended).
func TestEveryEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan context.Context, 1)
	stop := periodic.Every(ctx, time.Millisecond, func(fctx context.Context) bool {
		select {
		case got <- fctx:
		default:
		}
		return true
	})
	fctx := <-got
	cancel()
	<-fctx.Done()
	stop()
	if !errors.Is(fctx.Err(), context.Canceled) {
		t.Fatalf("f's context: %v, want canceled", fctx.Err())
	}
}
