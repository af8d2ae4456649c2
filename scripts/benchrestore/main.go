// Command benchrestore is the Go half of scripts/bench-restore.sh: "setup"
// registers a project database already filled on the project cluster,
// captures a verified snapshot of it and queues an approved full destructive
// restore (printing the ticket id); "wait" polls that ticket until the
// worker ends it and prints the time of each step of the restore.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchrestore:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 3 {
		return errors.New("usage: benchrestore setup REF DATABASE | wait TICKET TIMEOUT")
	}
	ctx := context.Background()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch args[0] {
	case "setup":
		return setup(ctx, cfg, pool, log, args[1], args[2])
	case "wait":
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return err
		}
		timeout, err := time.ParseDuration(args[2])
		if err != nil {
			return err
		}
		return wait(ctx, pool, id, timeout)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func setup(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, log *slog.Logger, ref, db string) error {
	if err := database.Migrate(ctx, pool, log); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')
		ON CONFLICT (ref) DO UPDATE SET database_name = excluded.database_name`, ref, db); err != nil {
		return fmt.Errorf("register project: %w", err)
	}
	s3c, err := objstore.New(ctx, cfg.S3)
	if err != nil {
		return err
	}
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &cfg.S3.Bucket}); err != nil {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &cfg.S3.Bucket}); err != nil {
			return fmt.Errorf("create bucket %s: %w", cfg.S3.Bucket, err)
		}
	}
	start := time.Now()
	snap, err := verify.Capture(ctx, snapshots.NewDeps(cfg, pool, s3c, log), ref, false)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	fmt.Fprintf(os.Stderr, "snapshot %d: %s, %d bytes gzipped, captured and verified in %s\n", snap.ID, snap.Key, snap.Size, time.Since(start).Round(time.Second))
	stamp := time.Now().Format("150405.000")
	op, _, err := auth.CreateUser(ctx, pool, audit.System("bench"), auth.NewUser{Email: "bench-op-" + stamp + "@example.com", Role: auth.RoleOperator})
	if err != nil {
		return err
	}
	ap, _, err := auth.CreateUser(ctx, pool, audit.System("bench"), auth.NewUser{Email: "bench-ap-" + stamp + "@example.com", Role: auth.RoleApprover})
	if err != nil {
		return err
	}
	opA, apA := tickets.UserActor(op, "bench"), tickets.UserActor(ap, "bench")
	cat := tickets.SnapshotCatalog(pool)
	scope := tickets.Scope{Kind: tickets.ScopeFull}
	tk, err := tickets.Create(ctx, pool, cat, opA, tickets.NewTicket{Source: tickets.SourcePortal, ProjectRef: ref,
		RequesterEmail: "bench@example.com", Scope: scope, Mode: tickets.ModeDestructive, Note: "bench-restore.sh"})
	if err != nil {
		return err
	}
	if _, err := tickets.Prepare(ctx, pool, cat, opA, tk.ID, tickets.Preparation{SnapshotID: snap.ID, Scope: scope, Mode: tickets.ModeDestructive}); err != nil {
		return err
	}
	if _, err := tickets.Submit(ctx, pool, opA, tk.ID); err != nil {
		return err
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return err
	}
	if _, err := tickets.Approve(ctx, pool, rc, apA, tk.ID, ref); err != nil {
		return err
	}
	fmt.Println(tk.ID)
	return nil
}

func wait(ctx context.Context, db tickets.DB, id int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		tk, err := tickets.TicketGet(ctx, db, id)
		if err != nil {
			return err
		}
		if tk.State == tickets.StateSucceeded || tk.State == tickets.StateFailed {
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
		if time.Now().After(deadline) {
			return fmt.Errorf("ticket %d still %s after %s", id, tk.State, timeout)
		}
		time.Sleep(time.Second)
	}
}
