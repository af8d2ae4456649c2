package runbook_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/runbook"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// runningStaged is a running destructive tables restore of public.orders
// with staged review, and its approver (not the preparer).
func (f *fixture) runningStaged() (tickets.Ticket, tickets.Actor) {
	f.t.Helper()
	return f.runningStagedScope(tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.orders"}})
}

// runningStagedScope is runningStaged for scope (full: with the full
// restore's staged review).
func (f *fixture) runningStagedScope(scope tickets.Scope) (tickets.Ticket, tickets.Actor) {
	f.t.Helper()
	ctx := context.Background()
	op, ap := f.p.Operator, f.p.Approver
	cat := tickets.SnapshotCatalog(f.pool)
	tk, err := tickets.Create(ctx, f.pool, cat, op, tickets.NewTicket{Source: tickets.SourcePortal, ProjectRef: f.ref,
		RequesterEmail: "customer@example.com", Scope: scope, Mode: tickets.ModeDestructive, Note: "staged review test"})
	if err == nil {
		_, err = tickets.Prepare(ctx, f.pool, cat, op, tk.ID, tickets.Preparation{SnapshotID: f.snap.ID, Scope: scope,
			Mode: tickets.ModeDestructive, Options: tickets.Options{StagedReview: true, StagedReviewFull: scope.Kind == tickets.ScopeFull}})
	}
	if err == nil {
		_, err = tickets.Submit(ctx, f.pool, op, tk.ID)
	}
	if err == nil {
		tk, err = tickets.Approve(ctx, f.pool, testenv.InsertOnlyRiver(f.t, f.pool), ap, tk.ID, f.ref)
	}
	if err == nil {
		tk, err = tickets.MarkRunning(ctx, f.pool, tk.ID, tk.JobID)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return tk, ap
}

// pausedThenConfirmed runs a staged ticket's first attempt to its pause for
// the review and has approver ap confirm the review; it returns the ticket
// read again and the review confirmed.
func (f *fixture) pausedThenConfirmed(ctx context.Context, tk tickets.Ticket, ap tickets.Actor) (tickets.Ticket, tickets.StagedReview) {
	f.t.Helper()
	if _, err := runbook.Run(ctx, f.deps, tk, f.attempt(1)); !errors.Is(err, runbook.ErrAwaitingCutover) {
		f.t.Fatalf("first attempt: %v, want the pause", err)
	}
	rv, err := tickets.StagedReviewGet(ctx, f.pool, tk.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := tickets.StagedReviewConfirm(ctx, f.pool, ap, tk.ID, tickets.ReviewDecision{Digest: rv.Digest(), ConfirmRef: f.ref}); err != nil {
		f.t.Fatal(err)
	}
	if tk, err = tickets.TicketGet(ctx, f.pool, tk.ID); err != nil {
		f.t.Fatal(err)
	}
	return tk, rv
}

// TestStagedReviewKeepsTheCopyForARetryOfTheConfirmedAttempt: a confirmed
// cut-over whose live sessions are cut (a lost connection) just after its
// backup database is made ends with a transient error and keeps the
// reviewed copy for the retry; when the worker gives that retry up it drops
// the copy (DropReviewedCopy), and a later attempt then fails closed; live
// is unchanged throughout.
func TestStagedReviewKeepsTheCopyForARetryOfTheConfirmedAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tk, ap := f.runningStaged()
	staging := cluster.StagingName(f.db, tk.ID)
	tk, _ = f.pausedThenConfirmed(ctx, tk, ap)
	d := f.deps
	d.StepHook = func(ctx context.Context, _ int64, s runbook.Step) error {
		if s != runbook.StepBackedUp {
			return nil
		}
		admin, err := pgx.Connect(ctx, f.cfg.ProjectsAdminURL)
		if err != nil {
			return err
		}
		defer admin.Close(ctx)
		_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, f.db)
		return err
	}
	o, err := runbook.Run(ctx, d, tk, f.attempt(2))
	if err == nil || !o.Transient(ctx, err) {
		t.Fatalf("confirmed attempt with its live sessions cut: %v (transient %v)", err, err != nil && o.Transient(ctx, err))
	}
	if !f.exists(staging) {
		t.Fatal("the reviewed copy was dropped although the confirmed attempt will be retried")
	}
	if f.checksum(f.db) != f.before {
		t.Fatal("live changed")
	}
	// The worker gives the retries up: the copy goes with the failure.
	if err := runbook.DropReviewedCopy(ctx, f.deps, tk, f.deps.Log); err != nil {
		t.Fatal(err)
	}
	if f.exists(staging) {
		t.Fatal("DropReviewedCopy left the copy")
	}
	if _, err := runbook.Run(ctx, f.deps, tk, f.attempt(3)); err == nil || !strings.Contains(err.Error(), "no longer there") {
		t.Fatalf("attempt without the reviewed copy: %v, want it to fail closed", err)
	}
	if f.checksum(f.db) != f.before {
		t.Fatal("live changed")
	}
}

// TestStagedReviewFullKeepsTheCopyAfterAFault: the confirmed cut-over of a
// full restore meets a Postgres fault (admin shutdown, 57P01) just after its
// verification; the attempt ends transient with the copy kept, and the next
// attempt cuts over from it without restoring again.
func TestStagedReviewFullKeepsTheCopyAfterAFault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tk, ap := f.runningStagedScope(tickets.Scope{Kind: tickets.ScopeFull})
	staging := cluster.StagingName(f.db, tk.ID)
	tk, rv := f.pausedThenConfirmed(ctx, tk, ap)
	if len(rv.Tables) < 3 {
		t.Fatalf("review: %+v", rv)
	}
	d := f.deps
	d.StepHook = func(_ context.Context, _ int64, s runbook.Step) error {
		if s == runbook.StepVerified {
			return &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}
		}
		return nil
	}
	o, err := runbook.Run(ctx, d, tk, f.attempt(2))
	if err == nil || !o.Transient(ctx, err) || !f.exists(staging) || f.checksum(f.db) != f.before {
		t.Fatalf("faulted confirmed attempt: %v; copy kept %v; live unchanged %v", err, f.exists(staging), f.checksum(f.db) == f.before)
	}
	if _, err := runbook.Run(ctx, f.deps, tk, f.attempt(3)); err != nil {
		t.Fatalf("retry of the confirmed cut-over: %v", err)
	}
	if got := f.stepsOf(tk.ID, tickets.StepOpRestore, 3); slices.Contains(got, "apply") || !slices.Contains(got, "cut-over") {
		t.Errorf("the retry's steps: %v (want the cut-over, no second apply)", got)
	}
	if f.checksum(f.db) == f.before {
		t.Error("live still holds the state before the restore")
	}
}
