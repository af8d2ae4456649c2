package tickets

import (
	"errors"
	"testing"
)

func TestCheckTransitionEveryPair(t *testing.T) {
	t.Parallel()
	legal := map[[2]State]bool{}
	for _, p := range [][2]State{
		{StateNew, StateNeedsInfo}, {StateNew, StateReady}, {StateNew, StateCancelled}, {StateNew, StateRejected},
		{StateNeedsInfo, StateNew}, {StateNeedsInfo, StateReady}, {StateNeedsInfo, StateCancelled}, {StateNeedsInfo, StateRejected},
		{StateReady, StateNeedsInfo}, {StateReady, StateAwaitingApproval}, {StateReady, StateQueued},
		{StateReady, StateCancelled}, {StateReady, StateRejected},
		{StateAwaitingApproval, StateReady}, {StateAwaitingApproval, StateQueued},
		{StateAwaitingApproval, StateCancelled}, {StateAwaitingApproval, StateRejected},
		{StateQueued, StateRunning}, {StateQueued, StateFailed}, {StateQueued, StateCancelled},
		{StateRunning, StateSucceeded}, {StateRunning, StateFailed}, {StateRunning, StateCancelled},
		{StateSucceeded, StateRolledBack},
		{StateFailed, StateReady},
	} {
		legal[p] = true
	}
	n := 0
	for _, from := range States {
		for _, to := range States {
			err := CheckTransition(from, to)
			if legal[[2]State{from, to}] {
				n++
				if err != nil {
					t.Errorf("%s -> %s: want legal, got %v", from, to, err)
				}
				continue
			}
			var te *TransitionError
			if !errors.As(err, &te) || te.From != from || te.To != to {
				t.Errorf("%s -> %s: want *TransitionError, got %v", from, to, err)
			}
		}
	}
	if n != len(legal) {
		t.Errorf("checked %d legal transitions, listed %d", n, len(legal))
	}
}

func TestStateProperties(t *testing.T) {
	t.Parallel()
	for _, s := range States {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	if State("nope").Valid() {
		t.Error("unknown state valid")
	}
	for _, s := range []State{StateCancelled, StateRejected, StateRolledBack} {
		if !s.Terminal() || s.Open() {
			t.Errorf("%s: want terminal and closed", s)
		}
	}
	if StateSucceeded.Terminal() || StateSucceeded.Open() {
		t.Error("succeeded: can still roll back, but no longer open")
	}
}

func TestSubjectTag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		subject string
		id      int64
		ok      bool
	}{
		{"Re: " + SubjectTag(42) + " restore please", 42, true},
		{"restore #42", 0, false},
		{"[restore #x]", 0, false},
	} {
		id, ok := ParseSubjectTag(tc.subject)
		if id != tc.id || ok != tc.ok {
			t.Errorf("%q: got %d %v", tc.subject, id, ok)
		}
	}
}
