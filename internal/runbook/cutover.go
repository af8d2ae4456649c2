package runbook

import (
	"context"
	"errors"
	"fmt"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// A database cut-over (full restore, full rollback) is recorded before it
// blocks anything (tickets.CutoverBegin, naming the Postgres session whose
// lock is the block), its transaction id before its commit, and its end
// after. The block dies with that session (cluster.Cutover), so a worker
// killed in the middle never leaves live unreachable; what it leaves is an
// open record, which the next attempt, or the watchdog, settles from what
// the record names: the session is ended if it lingers, and the cluster is
// asked whether the recorded transaction committed.

// cutover runs the cut-over of ticketID's op on cl with its record; step is
// the test hook (StepBlocked runs while the block is held).
func cutover(ctx context.Context, d Deps, cl *cluster.Cluster, ticketID int64, op, live, incoming, outgoing string, step func(context.Context, Step) error) error {
	ctx = context.WithoutCancel(ctx)
	err := cl.Cutover(ctx, live, incoming, outgoing, cluster.CutoverOptions{
		Begun: func(ctx context.Context, s cluster.CutoverSession) error {
			return tickets.CutoverBegin(ctx, d.Pool, tickets.Cutover{TicketID: ticketID, Op: op, Cluster: clusterName(cl),
				LiveDatabase: live, Incoming: incoming, Outgoing: outgoing, BackendPID: s.PID, BackendStart: s.BackendStart})
		},
		Blocked: func(ctx context.Context, xid uint64) error {
			if err := step(ctx, StepBlocked); err != nil {
				return err
			}
			return tickets.CutoverRecordXID(ctx, d.Pool, ticketID, op, xid)
		},
	})
	if err == nil {
		return tickets.CutoverEnd(ctx, d.Pool, ticketID, op, tickets.CutoverCommitted, "committed by its worker")
	}
	// Rolled back, or the commit's outcome is unknown (its connection broke):
	// the record says which transaction to ask about.
	state, serr := settleCutover(ctx, d, cl, ticketID, op, "its worker saw: "+err.Error())
	switch {
	case errors.Is(serr, tickets.ErrNoCutover):
		return err // failed before it was recorded: nothing was blocked
	case serr != nil:
		return fmt.Errorf("%w (and settling its record failed: %v)", err, serr)
	case state == tickets.CutoverCommitted:
		return nil // the commit went through although its answer was lost
	}
	return err
}

func clusterName(cl *cluster.Cluster) string {
	if n := cl.Name(); n != "" {
		return n
	}
	return cluster.Default
}

// settleCutover resolves an open cut-over record whose worker is gone (the
// caller holds the project lock): it ends the recorded session if it
// lingers, then reads the outcome from the record (blocking: nothing
// committed) or from the cluster (committing: the transaction's status). It
// returns the record's final state; ErrNoCutover when there is none.
func settleCutover(ctx context.Context, d Deps, cl *cluster.Cluster, ticketID int64, op, why string) (string, error) {
	ctx = context.WithoutCancel(ctx)
	c, err := tickets.CutoverGet(ctx, d.Pool, ticketID, op)
	if err != nil {
		return "", err
	}
	if !c.Open() {
		return c.State, nil
	}
	lingered, err := cl.EndSession(ctx, cluster.CutoverSession{PID: c.BackendPID, BackendStart: c.BackendStart})
	if err != nil {
		return "", err
	}
	note := why
	if lingered {
		note += "; its session lingered and was ended"
	}
	state := tickets.CutoverUndone
	if c.State == tickets.CutoverCommitting {
		st, err := cl.XactStatus(ctx, *c.XID)
		if err != nil {
			return "", err
		}
		switch st {
		case "committed":
			state = tickets.CutoverCommitted
		case "aborted":
		default:
			// Too old for Postgres to know (or, impossibly, still running):
			// the names on the cluster decide, or a person does.
			s, serr := cl.State(ctx, c.LiveDatabase, c.Incoming, c.Outgoing)
			switch {
			case serr == nil && s == cluster.SwapDone:
				state = tickets.CutoverCommitted
			case serr == nil && s == cluster.SwapNotStarted:
			default:
				return "", fmt.Errorf("cut-over of ticket %d: transaction %d is %q and the cluster shows %v: resolve it by hand", ticketID, *c.XID, st, serr)
			}
		}
		note += fmt.Sprintf("; transaction %d %s", *c.XID, map[bool]string{true: "committed", false: "did not commit"}[state == tickets.CutoverCommitted])
	} else {
		note += "; it was not committing: nothing committed"
	}
	if err := tickets.CutoverEnd(ctx, d.Pool, ticketID, op, state, note); err != nil {
		return "", err
	}
	d.Log.Warn("settled an interrupted cut-over from its record", "ticket_id", ticketID, "op", op, "state", state, "note", note)
	return state, nil
}

// SettleDeadCutovers settles every open cut-over record whose project lock is
// free (its worker is gone), and returns how many it settled. The watchdog
// runs it; a cut-over's block has ended with its session already, this
// ends a session that lingers (a lost node) and records the outcome.
// lockProject takes a project's lock without waiting (ok false: it is taken).
func SettleDeadCutovers(ctx context.Context, d Deps, lockProject func(ctx context.Context, ref string) (unlock func(), ok bool, err error)) (int, error) {
	open, err := tickets.CutoversOpen(ctx, d.Pool)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range open {
		t, err := tickets.TicketGet(ctx, d.Pool, c.TicketID)
		if err != nil {
			return n, err
		}
		unlock, ok, err := lockProject(ctx, t.ProjectRef)
		if err != nil {
			return n, err
		}
		if !ok {
			continue // its worker (or another) is at it
		}
		err = func() error {
			defer unlock()
			cl, err := clusterOf(ctx, d, t.ProjectRef)
			if err != nil {
				return err
			}
			_, err = settleCutover(ctx, d, cl, c.TicketID, c.Op, "the watchdog found its worker gone")
			return err
		}()
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
