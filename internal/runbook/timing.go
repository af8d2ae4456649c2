package runbook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/restoreportal/portal/internal/tickets"
)

// Per-step timings of a restore attempt: precheck, safety snapshot,
// prepare, apply, verify, cut-over, follow-ups. Each step runs from its
// mark to the next one; they are logged as each ends ("restore step") and
// kept in the ticket's result (tickets.Result.Steps).

// stepTimer records the steps of one attempt.
type stepTimer struct {
	mu    sync.Mutex
	log   func(name string, d time.Duration)
	steps []tickets.StepTiming
	cur   string
	start time.Time
}

// mark ends the current step and starts step name (a repeat of the current
// step is ignored).
func (s *stepTimer) mark(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == s.cur {
		return
	}
	s.endLocked()
	s.cur, s.start = name, time.Now()
}

func (s *stepTimer) endLocked() {
	if s.cur == "" {
		return
	}
	d := time.Since(s.start)
	s.steps = append(s.steps, tickets.StepTiming{Step: s.cur, Seconds: d.Seconds()})
	if s.log != nil {
		s.log(s.cur, d)
	}
	s.cur = ""
}

// done ends the current step and returns every step's duration.
func (s *stepTimer) done() []tickets.StepTiming {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked()
	return append([]tickets.StepTiming(nil), s.steps...)
}

// mark starts step name of the restore.
func (r *restoreRun) mark(name string) {
	if r.timings.log == nil {
		r.timings.log = func(name string, d time.Duration) {
			r.log.Info("restore step", "step", name, "duration", d.Round(time.Millisecond))
			r.steps.finish()
		}
	}
	r.timings.mark(name)
	r.steps.start(name)
}

// stepReached moves the timer on at the restore's step hooks.
func (r *restoreRun) stepReached(s Step) {
	switch s {
	case StepPrepared:
		r.mark("apply")
	case StepApplied:
		r.mark("verify")
	case StepVerified:
		r.mark(tickets.PhaseCutover)
	case StepFollowUps:
		r.mark("follow-ups")
	}
}

// noteFault writes the fault on the ticket's progress, when the portal's
// database answers, so staff see why the restore waits.
func (r *restoreRun) noteFault(ctx context.Context, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	r.mu.Lock()
	p := r.prog
	r.mu.Unlock()
	p.Message = fmt.Sprintf("Postgres fault, retrying from the record: %s", truncate(err.Error(), 300))
	if uerr := tickets.UpdateProgress(ctx, r.d.Pool, r.t.ID, p); uerr != nil && !errors.Is(uerr, tickets.ErrNotRunning) {
		r.log.Debug("could not record the fault on the ticket", "err", uerr)
	}
}
