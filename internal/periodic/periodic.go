// Package periodic runs a function at a fixed interval beside the work it
// watches: the progress reports, lock pings and yield checks of restores and
// drills.
package periodic

import (
	"context"
	"time"
)

// Every calls f every d in a goroutine of its own, until f returns false,
// ctx ends or the returned stop is called. The ctx f gets ends at stop, so a
// call in flight returns early; stop returns once f is no longer running,
// and calling it again is harmless.
func Every(ctx context.Context, d time.Duration, f func(ctx context.Context) bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !f(ctx) {
				return
			}
		}
	}()
	return func() { cancel(); <-stopped }
}
