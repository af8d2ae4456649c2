// Package benchenv is the set-up the Go halves of scripts/bench-*.sh share:
// the dev stack's configuration from the environment (the shell half sources
// ./.stack/env and points PORTAL_DATABASE_URL at a portal database of the
// bench's own), the portal pool, a logger, S3, bench staff, the real workers
// in process, and an approved restore ticket.
package benchenv

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

// Env is an open bench environment; Close ends it.
type Env struct {
	Config config.Config
	Pool   *pgxpool.Pool
	// Log writes to stderr at warn; BENCH_LOG=info shows the workers' phases
	// with their times.
	Log *slog.Logger
	S3  *s3.Client
}

// Open loads the configuration and opens the pool and the S3 client.
func Open(ctx context.Context) (*Env, error) {
	cfg, s3c, err := S3(ctx)
	if err != nil {
		return nil, err
	}
	e := &Env{Config: cfg, Log: Logger(), S3: s3c}
	if e.Pool, err = database.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	return e, nil
}

// S3 loads the configuration and opens the S3 client alone, for a driver
// that needs no portal database.
func S3(ctx context.Context) (config.Config, *s3.Client, error) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return cfg, nil, err
	}
	s3c, err := objstore.New(ctx, cfg.S3)
	return cfg, s3c, err
}

// Logger writes to stderr at warn, or at info with BENCH_LOG=info.
func Logger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("BENCH_LOG") == "info" {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Close closes the pool.
func (e *Env) Close() { e.Pool.Close() }

// Prepare migrates the portal database and makes the bucket.
func (e *Env) Prepare(ctx context.Context) error {
	if err := database.Migrate(ctx, e.Pool, e.Log); err != nil {
		return err
	}
	return objstore.EnsureBucket(ctx, e.S3, e.Config.S3.Bucket)
}

// Snapshots is the snapshots package's Deps on this environment.
func (e *Env) Snapshots() snapshots.Deps { return snapshots.NewDeps(e.Config, e.Pool, e.S3, e.Log) }

// Jobs is the workers' Deps on this environment.
func (e *Env) Jobs() jobs.Deps {
	return jobs.Deps{Config: e.Config, Pool: e.Pool, S3: e.S3, Log: e.Log}
}

// StartWorkers runs River with the real workers in this process; stop
// stops it (30 s at most).
func (e *Env) StartWorkers(ctx context.Context) (rc *river.Client[pgx.Tx], stop func(), err error) {
	rc, err = river.NewClient(riverpgxv5.New(e.Pool), &river.Config{Logger: e.Log, Queues: jobs.Queues(e.Config),
		Workers: jobs.Workers(e.Jobs())})
	if err != nil {
		return nil, nil, err
	}
	if err := rc.Start(ctx); err != nil {
		return nil, nil, err
	}
	return rc, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rc.Stop(sctx)
	}, nil
}

// InsertOnly is a River client that inserts jobs and works none, as the
// portal has.
func (e *Env) InsertOnly() (*river.Client[pgx.Tx], error) {
	return river.NewClient(riverpgxv5.New(e.Pool), &river.Config{})
}

// Staff is a fresh operator and approver (bench-op-<time>@, bench-ap-<time>@).
func (e *Env) Staff(ctx context.Context) (op, ap tickets.Actor, err error) {
	stamp := time.Now().Format("150405.000")
	o, _, err := auth.CreateUser(ctx, e.Pool, audit.System("bench"), auth.NewUser{Email: "bench-op-" + stamp + "@example.com", Role: auth.RoleOperator})
	if err != nil {
		return op, ap, err
	}
	a, _, err := auth.CreateUser(ctx, e.Pool, audit.System("bench"), auth.NewUser{Email: "bench-ap-" + stamp + "@example.com", Role: auth.RoleApprover})
	if err != nil {
		return op, ap, err
	}
	return tickets.UserActor(o, "bench"), tickets.UserActor(a, "bench"), nil
}

// Restore is the ticket Approve makes.
type Restore struct {
	Ref        string
	SnapshotID int64
	Scope      tickets.Scope
	Mode       tickets.Mode // destructive or undelete: approved by a second person
	Note       string       // which bench made it
}

// Approve creates, prepares and submits the restore as op and approves it
// as ap, which queues its job through jobs.
func Approve(ctx context.Context, pool *pgxpool.Pool, jobs tickets.JobInserter, op, ap tickets.Actor, r Restore) (tickets.Ticket, error) {
	cat := tickets.SnapshotCatalog(pool)
	tk, err := tickets.Create(ctx, pool, cat, op, tickets.NewTicket{Source: tickets.SourcePortal, ProjectRef: r.Ref,
		RequesterEmail: "bench@example.com", Scope: r.Scope, Mode: r.Mode, Note: r.Note})
	if err != nil {
		return tk, err
	}
	if _, err := tickets.Prepare(ctx, pool, cat, op, tk.ID, tickets.Preparation{SnapshotID: r.SnapshotID, Scope: r.Scope, Mode: r.Mode}); err != nil {
		return tk, err
	}
	if _, err := tickets.Submit(ctx, pool, op, tk.ID); err != nil {
		return tk, err
	}
	return tickets.Approve(ctx, pool, jobs, ap, tk.ID, r.Ref)
}

// WaitTicket polls ticket id until it has ended (succeeded, failed or
// cancelled) and returns it, or fails once timeout has passed.
func WaitTicket(ctx context.Context, db tickets.DB, id int64, timeout time.Duration) (tickets.Ticket, error) {
	deadline := time.Now().Add(timeout)
	for {
		tk, err := tickets.TicketGet(ctx, db, id)
		if err != nil {
			return tk, err
		}
		switch tk.State {
		case tickets.StateSucceeded, tickets.StateFailed, tickets.StateCancelled:
			return tk, nil
		}
		if time.Now().After(deadline) {
			return tk, fmt.Errorf("ticket %d still %s after %s", id, tk.State, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// RegisterProject records ref as a registered project whose live database
// is db (moving it there if it exists).
func (e *Env) RegisterProject(ctx context.Context, ref, db string) error {
	if _, err := e.Pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')
		ON CONFLICT (ref) DO UPDATE SET database_name = excluded.database_name`, ref, db); err != nil {
		return fmt.Errorf("register project: %w", err)
	}
	return nil
}

// Main is a driver's main: it runs cmd with an open Env and the command
// line's arguments, and on an error prints "name: error" and exits 1.
func Main(name string, cmd func(ctx context.Context, e *Env, args []string) error) {
	Run(name, func(ctx context.Context, args []string) error {
		e, err := Open(ctx)
		if err != nil {
			return err
		}
		defer e.Close()
		return cmd(ctx, e, args)
	})
}

// Run is the main of a driver that opens no Env (or opens only what it
// needs): it runs cmd with the command line's arguments, and on an error
// prints "name: error" and exits 1.
func Run(name string, cmd func(ctx context.Context, args []string) error) {
	if err := cmd(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// IndexFile builds the access index of the local gzipped dump name as
// verification builds it (etag stands for the object's), and returns it with
// the file's size.
func IndexFile(name, etag string) (*seekgz.Index, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	idx, _, err := verify.IndexDump(bufio.NewReaderSize(f, 1<<20), etag, st.Size())
	return idx, st.Size(), err
}

// A Command is one of a driver's subcommands: "driver NAME ARGS..." runs Run,
// or RunEnv with an open Env, with the arguments after NAME (at least as
// many as Args names).
type Command struct {
	Name   string
	Args   []string // the arguments' names, for the usage line
	Run    func(ctx context.Context, args []string) error
	RunEnv func(ctx context.Context, e *Env, args []string) error
}

// Commands is the main of a driver of subcommands: it runs the one the
// command line names (an Env opened for a RunEnv), and on an error, or a
// command line that names none or too few arguments, prints "driver: error"
// (with the usage line) and exits 1.
func Commands(driver string, cmds ...Command) {
	Run(driver, func(ctx context.Context, args []string) error {
		var usage []string
		for _, c := range cmds {
			usage = append(usage, strings.Join(append([]string{c.Name}, c.Args...), " "))
		}
		for _, c := range cmds {
			if len(args) == 0 || args[0] != c.Name {
				continue
			}
			if len(args)-1 < len(c.Args) {
				break
			}
			if c.RunEnv == nil {
				return c.Run(ctx, args[1:])
			}
			e, err := Open(ctx)
			if err != nil {
				return err
			}
			defer e.Close()
			return c.RunEnv(ctx, e, args[1:])
		}
		return fmt.Errorf("usage: %s %s", driver, strings.Join(usage, " | "))
	})
}
