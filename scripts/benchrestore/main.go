// Command benchrestore is the Go half of scripts/bench-restore.sh: "setup"
// registers a project database already filled on the project cluster,
// captures a verified snapshot of it and queues an approved full destructive
// restore (printing the ticket id); "wait" polls that ticket until the
// worker ends it and prints the time of each step of the restore.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
	"github.com/restoreportal/portal/scripts/benchenv"
)

func main() {
	benchenv.Commands("benchrestore",
		benchenv.Command{Name: "setup", Args: []string{"REF", "DATABASE"}, RunEnv: func(ctx context.Context, e *benchenv.Env, args []string) error {
			return setup(ctx, e, args[0], args[1])
		}},
		benchenv.Command{Name: "wait", Args: []string{"TICKET", "TIMEOUT"}, RunEnv: func(ctx context.Context, e *benchenv.Env, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return err
			}
			timeout, err := time.ParseDuration(args[1])
			if err != nil {
				return err
			}
			return wait(ctx, e.Pool, id, timeout)
		}})
}

func setup(ctx context.Context, e *benchenv.Env, ref, db string) error {
	if err := e.Prepare(ctx); err != nil {
		return err
	}
	if err := e.RegisterProject(ctx, ref, db); err != nil {
		return err
	}
	start := time.Now()
	snap, err := verify.Capture(ctx, e.Snapshots(), ref, false)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	fmt.Fprintf(os.Stderr, "snapshot %d: %s, %d bytes gzipped, captured and verified in %s\n", snap.ID, snap.Key, snap.Size, time.Since(start).Round(time.Second))
	op, ap, err := e.Staff(ctx)
	if err != nil {
		return err
	}
	rc, err := e.InsertOnly()
	if err != nil {
		return err
	}
	tk, err := benchenv.Approve(ctx, e.Pool, rc, op, ap, benchenv.Restore{Ref: ref, SnapshotID: snap.ID,
		Scope: tickets.Scope{Kind: tickets.ScopeFull}, Mode: tickets.ModeDestructive, Note: "bench-restore.sh"})
	if err != nil {
		return err
	}
	fmt.Println(tk.ID)
	return nil
}

func wait(ctx context.Context, db tickets.DB, id int64, timeout time.Duration) error {
	tk, err := benchenv.WaitTicket(ctx, db, id, timeout)
	if err != nil {
		return err
	}
	if tk.Result == nil {
		return fmt.Errorf("ticket %d %s without a result", id, tk.State)
	}
	var total float64
	for _, s := range tk.Result.Steps {
		fmt.Printf("%-16s %9.1fs\n", s.Step, s.Seconds)
		total += s.Seconds
	}
	fmt.Printf("%-16s %9.1fs\n", "total", total)
	if !tk.Result.OK {
		return fmt.Errorf("restore failed: %s", tk.Result.Message)
	}
	return nil
}
