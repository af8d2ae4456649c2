// Command benchundelete is the Go half of scripts/bench-undelete.sh. On the
// dev stack, with PORTAL_DATABASE_URL pointing at a portal database of its
// own, it builds a project database whose table public.items holds
// BENCH_ROWS rows (default 200,000), captures a verified snapshot, deletes
// BENCH_MISSING of them live (default 100,000, every other row), and then
// runs through the real workers (in process, River on the portal database):
//
//  1. an undelete of public.items (which inserts the missing rows back);
//  2. the same rows deleted again, a tables-destructive restore of
//     public.items from the same snapshot.
//
// It prints each run's steps as the worker timed them (Result.Steps), their
// totals and the ratio undelete / destructive (goal: at most 1.0).
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
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

const (
	ref   = "bench-undelete"
	db    = "bench_undel"
	owner = "bench_undel_owner"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "benchundelete:", err)
		os.Exit(1)
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func run(ctx context.Context) error {
	rows, missing := envInt("BENCH_ROWS", 200000), envInt("BENCH_MISSING", 100000)
	if missing > rows {
		return errors.New("BENCH_MISSING is more than BENCH_ROWS")
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if os.Getenv("BENCH_LOG") == "info" {
		level = slog.LevelInfo // the workers' phases, with their times
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := database.Migrate(ctx, pool, log); err != nil {
		return err
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
	cl, err := cluster.New(cfg.ProjectsAdminURL)
	if err != nil {
		return err
	}
	live, err := buildProject(ctx, cl, rows)
	if err != nil {
		return err
	}
	defer live.Close(context.Background())
	if _, err := pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')
		ON CONFLICT (ref) DO UPDATE SET database_name = excluded.database_name`, ref, db); err != nil {
		return fmt.Errorf("register project: %w", err)
	}
	snap, err := verify.Capture(ctx, snapshots.NewDeps(cfg, pool, s3c, log), ref, false)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	fmt.Printf("snapshot %d: public.items with %d rows, %d bytes gzipped\n", snap.ID, rows, snap.Size)

	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log, Queues: jobs.Queues(cfg),
		Workers: jobs.Workers(jobs.Deps{Config: cfg, Pool: pool, S3: s3c, Log: log})})
	if err != nil {
		return err
	}
	if err := rc.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rc.Stop(sctx)
	}()
	stamp := time.Now().Format("150405.000")
	op, _, err := auth.CreateUser(ctx, pool, audit.System("bench"), auth.NewUser{Email: "bench-op-" + stamp + "@example.com", Role: auth.RoleOperator})
	if err != nil {
		return err
	}
	ap, _, err := auth.CreateUser(ctx, pool, audit.System("bench"), auth.NewUser{Email: "bench-ap-" + stamp + "@example.com", Role: auth.RoleApprover})
	if err != nil {
		return err
	}
	actors := [2]tickets.Actor{tickets.UserActor(op, "bench"), tickets.UserActor(ap, "bench")}
	step := max(rows/missing, 1)

	var totals [2]float64
	for i, mode := range []tickets.Mode{tickets.ModeUndelete, tickets.ModeDestructive} {
		if err := deleteRows(ctx, live, step, missing); err != nil {
			return err
		}
		tk, err := restore(ctx, pool, rc, actors, snap, mode)
		if err != nil {
			return err
		}
		var n int64
		if err := live.QueryRow(ctx, `SELECT count(*) FROM public.items`).Scan(&n); err != nil {
			return err
		}
		if n != int64(rows) {
			return fmt.Errorf("%s: public.items has %d rows afterwards, want %d", mode, n, rows)
		}
		fmt.Printf("\n%s of public.items (%d rows missing live), ticket %d:\n", mode, missing, tk.ID)
		for _, s := range tk.Result.Steps {
			fmt.Printf("  %-16s %8.2fs\n", s.Step, s.Seconds)
			totals[i] += s.Seconds
		}
		fmt.Printf("  %-16s %8.2fs\n", "total", totals[i])
		if mode == tickets.ModeUndelete && (len(tk.Result.Undelete) != 1 || tk.Result.Undelete[0].Inserted != int64(missing)) {
			return fmt.Errorf("undelete inserted %+v, want %d rows", tk.Result.Undelete, missing)
		}
	}
	fmt.Printf("\nundelete / tables-destructive restore: %.2fx (goal <= 1.0x)\n", totals[0]/totals[1])
	return nil
}

// buildProject makes the project database owned by an unprivileged role
// and fills public.items; it returns an admin connection to it.
func buildProject(ctx context.Context, cl *cluster.Cluster, rows int) (*pgx.Conn, error) {
	if err := cl.EnsureOwnerRole(ctx, owner); err != nil {
		return nil, err
	}
	if err := cl.CreateOwned(ctx, db, owner); err != nil {
		return nil, err
	}
	conn, err := cl.Connect(ctx, db)
	if err != nil {
		return nil, err
	}
	for _, sql := range []string{
		`SET ROLE ` + owner,
		`CREATE TABLE public.items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, sku text NOT NULL, qty int NOT NULL,
			note text, at timestamptz NOT NULL DEFAULT now())`,
		fmt.Sprintf(`INSERT INTO public.items (sku, qty, note, at) SELECT 'sku-' || g, g %% 97, md5(g::text) || md5((g * 7)::text),
			timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, %d) g`, rows),
		`CREATE INDEX ON public.items (sku)`,
		`RESET ROLE`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("%s: %w", sql, err)
		}
	}
	return conn, nil
}

// deleteRows deletes every step-th row, missing of them, and vacuums, so
// that both runs start from the same live table.
func deleteRows(ctx context.Context, conn *pgx.Conn, step, missing int) error {
	if _, err := conn.Exec(ctx, `DELETE FROM public.items WHERE id IN (SELECT id FROM public.items WHERE id % $1 = 0 ORDER BY id LIMIT $2)`, step, missing); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, `VACUUM ANALYZE public.items`)
	return err
}

// restore prepares, submits, approves and waits for a tables restore of
// public.items in mode.
func restore(ctx context.Context, pool *pgxpool.Pool, rc *river.Client[pgx.Tx], a [2]tickets.Actor, snap snapshots.Snapshot, mode tickets.Mode) (tickets.Ticket, error) {
	cat := tickets.SnapshotCatalog(pool)
	scope := tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.items"}}
	tk, err := tickets.Create(ctx, pool, cat, a[0], tickets.NewTicket{Source: tickets.SourcePortal, ProjectRef: ref,
		RequesterEmail: "bench@example.com", Scope: scope, Mode: mode, Note: "bench-undelete.sh"})
	if err != nil {
		return tk, err
	}
	if _, err := tickets.Prepare(ctx, pool, cat, a[0], tk.ID, tickets.Preparation{SnapshotID: snap.ID, Scope: scope, Mode: mode}); err != nil {
		return tk, err
	}
	if _, err := tickets.Submit(ctx, pool, a[0], tk.ID); err != nil {
		return tk, err
	}
	if _, err := tickets.Approve(ctx, pool, rc, a[1], tk.ID, ref); err != nil {
		return tk, err
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		tk, err = tickets.TicketGet(ctx, pool, tk.ID)
		if err != nil {
			return tk, err
		}
		switch tk.State {
		case tickets.StateSucceeded:
			return tk, nil
		case tickets.StateFailed, tickets.StateCancelled:
			msg := ""
			if tk.Result != nil {
				msg = tk.Result.Message
			}
			return tk, fmt.Errorf("%s restore %s: %s", mode, tk.State, msg)
		}
		if time.Now().After(deadline) {
			return tk, fmt.Errorf("ticket %d still %s after 30m", tk.ID, tk.State)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
