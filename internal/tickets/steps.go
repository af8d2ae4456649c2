package tickets

import (
	"time"
)

// A ticket's step log (ticket_steps): every step of every restore and
// rollback attempt, written by the job when the step starts and when it
// ends. The ticket page shows it, and the benchmark reads the time each step
// took from it.

// Ops of the step log.
const (
	StepOpRestore  = "restore"
	StepOpRollback = "rollback"
)

// StepLog is one step of one attempt.
type StepLog struct {
	ID         int64
	TicketID   int64
	Op         string
	Attempt    int
	Step       string
	StartedAt  time.Time
	FinishedAt *time.Time // nil: running, or its attempt died in it
	Names      []string   // what it made: databases (from the ticket's records), snapshot keys
	Bytes      *int64     // what it moved, where known (the dump read, the safety snapshot written)
}

// Duration is how long the step took, or has run until now.
func (s StepLog) Duration(now time.Time) time.Duration {
	if s.FinishedAt != nil {
		return s.FinishedAt.Sub(s.StartedAt)
	}
	return now.Sub(s.StartedAt)
}
