package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/runbook/runbooktest"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

// harness is one project with a live database on the cluster, a portal
// database, a bucket, a River client working the real workers, and staff.
type harness struct {
	t    *testing.T
	p    *runbooktest.Project
	cfg  config.Config
	pool *pgxpool.Pool
	// portalURL reaches pool's database, for worker processes.
	portalURL string
	deps      jobs.Deps
	cl        *cluster.Cluster
	river     *river.Client[pgx.Tx]
	ref       string
	db        string // the live database
	operator  tickets.Actor
	approver  tickets.Actor
}

func randomRef() string { return runbooktest.RandomRef() }

// newHarness builds the project (two days of changes) but starts no worker;
// call startRiver for an in-process one.
func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessRef(t, randomRef())
}

// newHarnessRef is newHarness for a project of the given ref.
func newHarnessRef(t *testing.T, ref string) *harness {
	t.Helper()
	return newHarnessWith(t, ref, nil)
}

// newHarnessWith is newHarnessRef with the configuration changed by edit
// first (another project cluster, say).
func newHarnessWith(t *testing.T, ref string, edit func(*config.Config)) *harness {
	t.Helper()
	p := runbooktest.New(t, ref, edit)
	h := &harness{t: t, p: p, cfg: p.Config, pool: p.Pool, portalURL: p.PortalURL, cl: p.Cluster, ref: p.Ref, db: p.DB,
		operator: p.Operator, approver: p.Approver}
	h.deps = jobs.Deps{Config: h.cfg, Pool: h.pool, S3: p.S3, Log: testenv.Logger(t)}
	return h
}

// startRiver runs the real workers in this process until the test ends.
func (h *harness) startRiver() {
	h.t.Helper()
	h.startRiverWith(h.deps)
}

func (h *harness) startRiverWith(deps jobs.Deps) {
	h.t.Helper()
	rc, err := river.NewClient(riverpgxv5.New(h.pool), &river.Config{
		Logger:  deps.Log,
		Queues:  jobs.Queues(h.cfg),
		Workers: jobs.Workers(deps),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := rc.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rc.Stop(ctx)
	})
	h.river = rc
}

// workerCommand builds the real worker binary (cmd/worker) once and returns
// a function that starts one more `worker run` process of it, on the
// harness's portal database, cluster and bucket, reading S3 at s3Endpoint,
// with extra and then more added to the environment (a later setting wins).
// Every process logs into one file, shown when the test fails, and is killed
// when the test ends.
func (h *harness) workerCommand(s3Endpoint string, extra ...string) func(more ...string) *exec.Cmd {
	t := h.t
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/worker").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"PORTAL_DATABASE_URL="+h.portalURL,
		"PORTAL_PROJECTS_ADMIN_URL="+h.cfg.ProjectsAdminURL,
		"PORTAL_S3_ENDPOINT="+s3Endpoint,
		"PORTAL_S3_BUCKET="+h.cfg.S3.Bucket,
		"PORTAL_S3_PREFIX="+h.cfg.S3.Prefix,
		"PORTAL_S3_ACCESS_KEY="+h.cfg.S3.AccessKey,
		"PORTAL_S3_SECRET_KEY="+h.cfg.S3.SecretKey,
		"PORTAL_PG_DUMP="+h.cfg.PGDump,
		"PORTAL_APPLY_JOBS=1",
		"PORTAL_METRICS_ADDR=127.0.0.1:0",
		"PORTAL_RESCUE_AFTER=2s",
	)
	env = append(env, extra...)
	logs := filepath.Join(t.TempDir(), "worker.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logs)
			t.Logf("worker logs:\n%s", b)
		}
	})
	return func(more ...string) *exec.Cmd {
		f, err := os.OpenFile(logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run")
		cmd.Env, cmd.Stdout, cmd.Stderr = append(env, more...), f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait(); f.Close() })
		return cmd
	}
}

// kill9 kills a worker process with SIGKILL (a lost node, kill -9) and
// reaps it.
func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = cmd.Process.Wait()
}

// waitCancelled waits, a minute at most after since (what happened last,
// for the message), for the cancelled ticket tk's staging database to be
// dropped and its job to end, then checks the ticket is cancelled and the
// live database's checksum is still before.
func (h *harness) waitCancelled(tk tickets.Ticket, before, since string) {
	t := h.t
	t.Helper()
	staging := fmt.Sprintf("%s_stg_t%d", h.db, tk.ID)
	deadline := time.Now().Add(time.Minute)
	for h.databaseExists(staging) {
		if time.Now().After(deadline) {
			t.Fatal("staging database still there a minute after " + since)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.waitJobFinalized(tk.JobID)
	got, err := tickets.TicketGet(context.Background(), h.pool, tk.ID)
	if err != nil || got.State != tickets.StateCancelled {
		t.Fatalf("ticket after cancel: %s, %v", got.State, err)
	}
	h.wantLive(before, "a cancelled restore changed the live database (cancelled, then "+since+")")
}

// insertOnly is a client that inserts jobs without working them.
func (h *harness) insertOnly() *river.Client[pgx.Tx] {
	rc, err := river.NewClient(riverpgxv5.New(h.pool), &river.Config{})
	if err != nil {
		h.t.Fatal(err)
	}
	return rc
}

func (h *harness) dropDatabases() { h.p.DropDatabases() }

// change makes another day of changes in the live database.
func (h *harness) change(day int) {
	h.t.Helper()
	h.onDB(h.db, func(ctx context.Context, conn *pgx.Conn) error { return demo.ChangeDay(ctx, conn, h.ref, day) })
}

// capture takes a verified snapshot of the live database, as the platform does.
func (h *harness) capture() snapshots.Snapshot {
	h.t.Helper()
	s, err := verify.Capture(context.Background(), snapshots.NewDeps(h.cfg, h.pool, h.deps.S3, h.deps.Log), h.ref, false)
	if err != nil {
		h.t.Fatalf("capture: %v", err)
	}
	return s
}

// dump is pg_dump of a database, without the lines that differ between two
// dumps of equal databases (the \restrict key, versions).
func (h *harness) dump(db string, tables ...string) string {
	h.t.Helper()
	args := []string{"--no-owner", "--no-privileges", "--dbname", h.cl.URL(db)}
	for _, t := range tables {
		args = append(args, "-t", t)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(h.cfg.PGDump, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("pg_dump %s: %v: %s", db, err, errb.String())
	}
	var keep []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, `\restrict`) || strings.HasPrefix(line, `\unrestrict`) ||
			strings.HasPrefix(line, "-- Dumped from") || strings.HasPrefix(line, "-- Dumped by") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

func (h *harness) checksum(db string) string { return h.p.Checksum(db) }

// ticket creates and prepares a ticket, then starts it (new project) or has
// it approved by a second person (destructive), which queues the job.
func (h *harness) ticket(snap snapshots.Snapshot, scope tickets.Scope, mode tickets.Mode, opts tickets.Options) tickets.Ticket {
	h.t.Helper()
	ctx := context.Background()
	cat := tickets.SnapshotCatalog(h.pool)
	tk, err := tickets.Create(ctx, h.pool, cat, h.operator, tickets.NewTicket{
		Source: tickets.SourcePortal, ProjectRef: h.ref, RequesterEmail: "customer@example.com",
		Scope: scope, Mode: mode, Note: "test restore",
	})
	if err != nil {
		h.t.Fatalf("create ticket: %v", err)
	}
	if tk, err = tickets.Prepare(ctx, h.pool, cat, h.operator, tk.ID, tickets.Preparation{SnapshotID: snap.ID, Scope: scope, Mode: mode, Options: opts}); err != nil {
		h.t.Fatalf("prepare: %v", err)
	}
	jobsClient := h.river
	if jobsClient == nil {
		jobsClient = h.insertOnly()
	}
	if mode == tickets.ModeNewProject {
		tk, err = tickets.Start(ctx, h.pool, jobsClient, h.operator, tk.ID)
	} else {
		if _, err = tickets.Submit(ctx, h.pool, h.operator, tk.ID); err == nil {
			tk, err = tickets.Approve(ctx, h.pool, jobsClient, h.approver, tk.ID, h.ref)
		}
	}
	if err != nil {
		h.t.Fatalf("queue restore: %v", err)
	}
	return tk
}

// wait polls the ticket until done says so, or fails after timeout.
func (h *harness) wait(id int64, timeout time.Duration, done func(tickets.Ticket) bool) tickets.Ticket {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tk, err := tickets.TicketGet(context.Background(), h.pool, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if done(tk) {
			return tk
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("ticket %d still %s after %s; progress %+v result %+v", id, tk.State, timeout, tk.Progress, tk.Result)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFinal waits for the ticket to end, and for its River job to be
// finalized too (the ticket is written before River records the job's end).
func (h *harness) waitFinal(id int64) tickets.Ticket {
	h.t.Helper()
	tk := h.wait(id, 3*time.Minute, func(tk tickets.Ticket) bool {
		return tk.State == tickets.StateSucceeded || tk.State == tickets.StateFailed || tk.State == tickets.StateCancelled
	})
	h.waitJobFinalized(tk.JobID)
	return tk
}

func (h *harness) waitJobFinalized(jobID int64) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var final bool
		err := h.pool.QueryRow(context.Background(), `SELECT finalized_at IS NOT NULL FROM river_job WHERE id = $1`, jobID).Scan(&final)
		if err != nil {
			h.t.Fatalf("job %d: %v", jobID, err)
		}
		if final {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("job %d not finalized after 30s", jobID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) rollback(id int64) tickets.Ticket {
	h.t.Helper()
	if _, err := tickets.RequestRollback(context.Background(), h.pool, h.river, h.approver, id, h.ref); err != nil {
		h.t.Fatalf("request rollback: %v", err)
	}
	tk := h.wait(id, 2*time.Minute, func(tk tickets.Ticket) bool {
		return tk.State == tickets.StateRolledBack || (tk.Result != nil && tk.Result.RollbackError != "")
	})
	return tk
}

func (h *harness) databaseExists(name string) bool {
	h.t.Helper()
	ok, err := h.cl.Exists(context.Background(), name)
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}
