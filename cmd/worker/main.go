// Command worker runs the portal's River jobs (restores, snapshot sync,
// verification, capture, cleanup, mail). Run as many as you like, on as many
// machines: they share the queue in the portal's Postgres.
//
//	worker run      work jobs until SIGINT/SIGTERM
//	worker apply    break-glass: apply a dump into an empty database
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/app"
	"github.com/restoreportal/portal/internal/jobs"
)

const usage = `usage: worker <command>

commands:
  run       work jobs from the queue until interrupted
  apply     apply a dump into an existing empty database (worker apply -h)
`

func main() {
	app.Main("worker", usage, map[string]app.Command{
		"run":   func(ctx context.Context, _ []string) error { return run(ctx) },
		"apply": apply,
	})
}

func run(ctx context.Context) error {
	rt, err := app.Open(ctx, "worker", os.Stderr, app.MigrateIfAuto, true)
	if err != nil {
		return err
	}
	defer rt.Close()
	cfg, log, pool := rt.Config, rt.Log, rt.Pool
	deps := jobs.Deps{Config: cfg, Pool: pool, S3: rt.S3, Log: log}
	if step := os.Getenv(pauseAtEnv); step != "" {
		deps.StepHook = pauseAt(step, log)
	}
	if step := os.Getenv(pauseDrillAtEnv); step != "" {
		deps.Drill.Hook = pauseAt(step, log) // by drill id; marks <drill>-<step>
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:       log,
		Queues:       jobs.Queues(cfg),
		Workers:      jobs.Workers(deps),
		PeriodicJobs: jobs.PeriodicJobs(deps),
		JobTimeout:   -1, // restores run as long as they need; they watch ctx
	})
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/metrics", jobs.MetricsHandler())
	msrv := &http.Server{Addr: cfg.Worker.MetricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := msrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "addr", cfg.Worker.MetricsAddr, "err", err)
		}
	}()
	if err := rc.Start(ctx); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	log.Info("worker running", "restore_concurrency", cfg.Worker.Concurrency, "capture_concurrency", cfg.Worker.CaptureConcurrency, "metrics_addr", cfg.Worker.MetricsAddr)
	<-ctx.Done()
	log.Info("stopping: finishing running jobs (send again to cancel them)")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rc.Stop(sctx); err != nil {
		log.Warn("jobs still running at shutdown; cancelling them, River will retry", "err", err)
		_ = rc.StopAndCancel(context.Background())
	}
	_ = msrv.Shutdown(context.Background())
	return nil
}

// pauseAtEnv names a restore step at which the worker stops and waits to be
// killed: a fault-injection hook for tests that kill the worker binary at a
// precise point (jobs faults, cut-over and crash-matrix tests). Never set it
// in production. Its value is a step (every ticket pauses there) or a list
// of ticket:step pairs ("12:applied,13:rollback-blocked"). When
// pausedDirEnv names a directory, a paused job creates the file
// <ticket>-<step> in it, so a test sees the pause without reading logs.
const (
	pauseAtEnv   = "PORTAL_TEST_PAUSE_AT_STEP"
	pausedDirEnv = "PORTAL_TEST_PAUSED_DIR"
	// pauseDrillAtEnv is pauseAtEnv for drills (prepared, applied, verified).
	pauseDrillAtEnv = "PORTAL_TEST_PAUSE_DRILL_AT_STEP"
)

func pauseAt(spec string, log *slog.Logger) func(context.Context, int64, jobs.Step) error {
	log.Warn("fault injection: restores pause at a step until the worker is killed", "env", pauseAtEnv, "spec", spec)
	all, byTicket := jobs.Step(""), map[int64]jobs.Step{}
	for _, part := range strings.Split(spec, ",") {
		id, step, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil {
			all = jobs.Step(strings.TrimSpace(part))
			continue
		}
		byTicket[n] = jobs.Step(step)
	}
	dir := os.Getenv(pausedDirEnv)
	return func(ctx context.Context, ticketID int64, s jobs.Step) error {
		at, ok := byTicket[ticketID]
		if !ok {
			at = all
		}
		if s != at {
			return nil
		}
		log.Warn("paused at step", "ticket_id", ticketID, "step", s)
		if dir != "" {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d-%s", ticketID, s)), nil, 0o644); err != nil {
				log.Error("could not mark the pause", "err", err)
			}
		}
		select {} // until killed
	}
}
