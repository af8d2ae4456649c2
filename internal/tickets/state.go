package tickets

import "fmt"

// State is where a ticket is in its life.
type State string

const (
	StateNew              State = "new"
	StateNeedsInfo        State = "needs_info"
	StateReady            State = "ready"
	StateAwaitingApproval State = "awaiting_approval"
	StateQueued           State = "queued"
	StateRunning          State = "running"
	StateSucceeded        State = "succeeded"
	StateFailed           State = "failed"
	StateCancelled        State = "cancelled"
	StateRejected         State = "rejected"
	StateRolledBack       State = "rolled_back"
)

// States lists every state in the order of a ticket's life.
var States = []State{StateNew, StateNeedsInfo, StateReady, StateAwaitingApproval, StateQueued, StateRunning,
	StateSucceeded, StateFailed, StateCancelled, StateRejected, StateRolledBack}

// transitions is the state machine: the only place that says which state may
// follow which. Everything that changes a ticket's state asks CheckTransition.
var transitions = map[State][]State{
	StateNew:              {StateNeedsInfo, StateReady, StateCancelled, StateRejected},
	StateNeedsInfo:        {StateNew, StateReady, StateCancelled, StateRejected},
	StateReady:            {StateNeedsInfo, StateAwaitingApproval, StateQueued, StateCancelled, StateRejected},
	StateAwaitingApproval: {StateReady, StateQueued, StateCancelled, StateRejected},
	StateQueued:           {StateRunning, StateFailed, StateCancelled},
	StateRunning:          {StateSucceeded, StateFailed, StateCancelled},
	StateSucceeded:        {StateRolledBack},
	StateFailed:           {StateReady},
}

// Valid says whether s is a known state.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok || s == StateCancelled || s == StateRejected || s == StateRolledBack
}

// Terminal says whether no state can follow s.
func (s State) Terminal() bool { return len(transitions[s]) == 0 }

// Open says whether the ticket still needs someone's attention or a worker
// (it may still use its snapshot).
func (s State) Open() bool {
	switch s {
	case StateSucceeded, StateCancelled, StateRejected, StateRolledBack:
		return false
	}
	return true
}

// Label is the state for people.
func (s State) Label() string {
	switch s {
	case StateNeedsInfo:
		return "needs info"
	case StateAwaitingApproval:
		return "awaiting approval"
	case StateRolledBack:
		return "rolled back"
	}
	return string(s)
}

// TransitionError is an illegal state change.
type TransitionError struct {
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("a ticket that is %s cannot become %s", e.From.Label(), e.To.Label())
}

// CheckTransition returns a *TransitionError unless the machine allows from -> to.
func CheckTransition(from, to State) error {
	for _, s := range transitions[from] {
		if s == to {
			return nil
		}
	}
	return &TransitionError{From: from, To: to}
}
