package tickets_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/tickets"
)

func samplePlan() tickets.Plan {
	t := tickets.Ticket{ID: 42, ProjectRef: "proj-alpha", SnapshotID: 7, Mode: tickets.ModeDestructive,
		Scope:   tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.t", "auth.users"}},
		Options: tickets.Options{KeepDays: 3, AllowDangling: true}}
	return tickets.PlanOf(t, tickets.Snapshot{ID: 7, Key: "snapshots/proj-alpha/2026-05-03T02-00-00Z.sql.gz", ETag: `"abc"`, SizeBytes: 1234})
}

// TestPlanDigestStable pins the digest of a fixed plan: a change to the
// encoding would silently invalidate every pending approval (and needs a new
// PlanVersion), so it must be deliberate. Table order does not matter.
func TestPlanDigestStable(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	const want = "24d539c2fb41d3a2536b36e1285d32e43790b6d86fe74209d139d261a8164a85"
	if got := p.Digest(); got != want {
		t.Fatalf("digest of the sample plan changed:\n got %s\nwant %s\nencoding %s", got, want, p.Canonical())
	}
	if p.Tables[0] != "auth.users" {
		t.Fatalf("tables not sorted: %v", p.Tables)
	}
	q := samplePlan()
	q.Tables = []string{"public.t", "auth.users"}
	if tickets.PlanOf(tickets.Ticket{ID: 42, ProjectRef: "proj-alpha", SnapshotID: 7, Mode: tickets.ModeDestructive,
		Scope:   tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.t", "auth.users"}},
		Options: tickets.Options{KeepDays: 3, AllowDangling: true}},
		tickets.Snapshot{Key: p.SnapshotKey, ETag: p.SnapshotETag, SizeBytes: p.SnapshotSize}).Digest() != want {
		t.Fatal("same plan, different digest")
	}
	if len(want) != 64 || strings.Trim(want, "0123456789abcdef") != "" {
		t.Fatalf("digest is not hex SHA-256: %s", want)
	}
}

// TestPlanDigestSensitive changes every field of a plan, found by
// reflection (so a field added later is covered too), and checks that each
// change changes the digest and is listed by Changes.
func TestPlanDigestSensitive(t *testing.T) {
	t.Parallel()
	base := samplePlan()
	var walk func(v reflect.Value, path string)
	n := 0
	walk = func(v reflect.Value, path string) {
		for i := 0; i < v.NumField(); i++ {
			f, name := v.Field(i), path+v.Type().Field(i).Name
			if f.Kind() == reflect.Struct {
				walk(f, name+".")
				continue
			}
			n++
			t.Run(name, func(t *testing.T) {
				p := samplePlan()
				pv := reflect.ValueOf(&p).Elem()
				for _, part := range strings.Split(name, ".") {
					pv = pv.FieldByName(part)
				}
				switch pv.Kind() {
				case reflect.String:
					pv.SetString(pv.String() + "x")
				case reflect.Int, reflect.Int64:
					pv.SetInt(pv.Int() + 1)
				case reflect.Bool:
					pv.SetBool(!pv.Bool())
				case reflect.Slice:
					pv.Set(reflect.Append(pv, reflect.ValueOf("public.extra")))
				default:
					t.Fatalf("field kind %s not covered by the test", pv.Kind())
				}
				if p.Digest() == base.Digest() {
					t.Fatalf("changing %s does not change the digest", name)
				}
				if len(p.Changes(base)) == 0 {
					t.Fatalf("changing %s is not listed by Changes", name)
				}
			})
		}
	}
	walk(reflect.ValueOf(base), "")
	if n < 12 {
		t.Fatalf("only %d fields walked", n)
	}
	if got := base.Changes(base); len(got) != 0 {
		t.Fatalf("a plan differs from itself: %v", got)
	}
}

// approveFixture makes a destructive tables ticket prepared by the operator
// and submitted, and returns it with the digest the approver page shows.
func (f fixture) submitted(t *testing.T) (tickets.Ticket, string) {
	t.Helper()
	tk := f.newTicket(t, "proj-alpha", tickets.ModeDestructive)
	tk, p := f.submit(t, tk, tickets.Preparation{SnapshotID: f.snaps[2].ID, Mode: tickets.ModeDestructive,
		Scope: tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.orders"}}})
	return tk, p.Digest()
}

// submit prepares tk with prep and submits it, both as the operator, and
// returns the submitted ticket and the plan the approver page shows.
func (f fixture) submit(t *testing.T, tk tickets.Ticket, prep tickets.Preparation) (tickets.Ticket, tickets.Plan) {
	t.Helper()
	ctx := context.Background()
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, prep); err != nil {
		t.Fatal(err)
	}
	tk, err := tickets.Submit(ctx, f.pool, f.operator, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tickets.CurrentPlan(ctx, f.cat, tk)
	if err != nil {
		t.Fatal(err)
	}
	return tk, p
}

// TestStaleApprovalRefused: the approver saw a one-table plan; the operator
// withdrew, re-prepared a full destructive restore and resubmitted. The
// approval of the digest the approver saw is refused, says what changed, and
// queues nothing; the current digest is accepted.
func TestStaleApprovalRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk, seen := f.submitted(t)
	if _, err := tickets.Withdraw(ctx, f.pool, f.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.snaps[3].ID, Mode: tickets.ModeDestructive}); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Submit(ctx, f.pool, f.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	_, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: seen})
	var pc *tickets.PlanChangedError
	if !errors.As(err, &pc) || !errors.Is(err, tickets.ErrPlanChanged) {
		t.Fatalf("stale approval: got %v", err)
	}
	changes := strings.Join(pc.Changes, "; ")
	if !strings.Contains(changes, "scope: tables -> full") || !strings.Contains(changes, "snapshot:") {
		t.Fatalf("changes: %v", pc.Changes)
	}
	for _, digest := range []string{"", strings.Repeat("0", 64)} {
		if _, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: digest}); !errors.Is(err, tickets.ErrPlanChanged) {
			t.Fatalf("digest %q: got %v", digest, err)
		}
	}
	if n := jobCount(t, f.pool, "restore"); n != 0 {
		t.Fatalf("a refused approval queued %d jobs", n)
	}
	got, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: pc.Current.Digest()})
	if err != nil || got.State != tickets.StateQueued {
		t.Fatalf("approval of the current plan: %v %s", err, got.State)
	}
	var digest string
	if err := f.pool.QueryRow(ctx, `SELECT plan_digest FROM approvals WHERE ticket_id = $1`, tk.ID).Scan(&digest); err != nil || digest != pc.Current.Digest() {
		t.Fatalf("approval bound to %q (%v), want %s", digest, err, pc.Current.Digest())
	}
}

// TestSnapshotObjectReplacedRefusesApproval: the dump behind the snapshot
// changed in S3 (new ETag) after the plan was submitted: the digest the
// approver saw no longer holds.
func TestSnapshotObjectReplacedRefusesApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk, seen := f.submitted(t)
	if _, err := f.pool.Exec(ctx, `UPDATE snapshots SET etag = '"replaced"' WHERE id = $1`, tk.SnapshotID); err != nil {
		t.Fatal(err)
	}
	_, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: seen})
	var pc *tickets.PlanChangedError
	if !errors.As(err, &pc) || !strings.Contains(strings.Join(pc.Changes, ";"), "snapshot object") {
		t.Fatalf("replaced object: got %v", err)
	}
	// Even the new digest is refused: it is not the plan that was submitted.
	if _, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: pc.Current.Digest()}); !errors.Is(err, tickets.ErrPlanChanged) {
		t.Fatalf("unsubmitted plan approved: %v", err)
	}
}

// TestResubmissionSelfApprovalRefused: approver A prepared and submitted;
// operator B withdrew and resubmitted the same plan, becoming its preparer.
// A still may not approve: A prepared a version of it.
func TestResubmissionSelfApprovalRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.newTicket(t, "proj-alpha", tickets.ModeDestructive)
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.approver, tk.ID, tickets.Preparation{SnapshotID: f.snaps[3].ID, Mode: tickets.ModeDestructive}); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Submit(ctx, f.pool, f.approver, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Withdraw(ctx, f.pool, f.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	tk, err := tickets.Submit(ctx, f.pool, f.operator, tk.ID)
	if err != nil || tk.PreparedBy != f.operator.UserID {
		t.Fatalf("resubmit: %v %+v", err, tk)
	}
	p, _ := tickets.CurrentPlan(ctx, f.cat, tk)
	if _, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: p.Digest()}); !isPermission(err) {
		t.Fatalf("the first preparer approves: got %v", err)
	}
	if ok, err := tickets.PlanEditor(ctx, f.pool, tk.ID, f.approver.UserID); err != nil || !ok {
		t.Fatalf("PlanEditor: %v %v", ok, err)
	}
	if n := jobCount(t, f.pool, "restore"); n != 0 {
		t.Fatalf("jobs: %d", n)
	}
	if _, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver2, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: p.Digest()}); err != nil {
		t.Fatalf("an uninvolved approver: %v", err)
	}
}

// TestApprovalLapses: a plan submitted longer ago than the TTL cannot be
// approved; the attempt lapses it (ticket back to ready, audited, on the
// thread), and LapseExpired finds the others.
func TestApprovalLapses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk, seen := f.submitted(t)
	other, _ := f.submitted(t)
	if _, err := f.pool.Exec(ctx, `UPDATE ticket_plans SET created_at = now() - interval '25 hours' WHERE ticket_id = ANY($1)`, []int64{tk.ID, other.ID}); err != nil {
		t.Fatal(err)
	}
	_, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: seen})
	if !errors.Is(err, tickets.ErrApprovalLapsed) {
		t.Fatalf("lapsed approval: got %v", err)
	}
	got, _ := tickets.TicketGet(ctx, f.pool, tk.ID)
	if got.State != tickets.StateReady || jobCount(t, f.pool, "restore") != 0 {
		t.Fatalf("after lapse: %s, %d jobs", got.State, jobCount(t, f.pool, "restore"))
	}
	evs, _ := audit.List(ctx, f.pool, audit.Filter{TicketID: tk.ID})
	if evs[0].Action != "approval.lapsed" || evs[0].Actor != "approval-ttl" {
		t.Fatalf("last event %s by %s", evs[0].Action, evs[0].Actor)
	}
	// A shorter TTL given by configuration applies too; the fresh one stays.
	fresh, _ := f.submitted(t)
	n, err := tickets.LapseExpired(ctx, f.pool, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("LapseExpired: %d %v", n, err)
	}
	if got, _ := tickets.TicketGet(ctx, f.pool, other.ID); got.State != tickets.StateReady {
		t.Fatalf("other: %s", got.State)
	}
	if got, _ := tickets.TicketGet(ctx, f.pool, fresh.ID); got.State != tickets.StateAwaitingApproval {
		t.Fatalf("fresh: %s", got.State)
	}
	// Resubmitted, it can be approved again.
	if _, err := tickets.Submit(ctx, f.pool, f.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: seen}); err != nil {
		t.Fatalf("approve after resubmission: %v", err)
	}
}

// TestLapseApprovalExplicit is the call another part of the portal makes
// when a plan-changing proposal is accepted.
func TestLapseApprovalExplicit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk, seen := f.submitted(t)
	got, err := tickets.LapseApproval(ctx, f.pool, tickets.SystemActor("intake"), tk.ID, "the requester's proposal was accepted")
	if err != nil || got.State != tickets.StateReady {
		t.Fatalf("lapse: %v %s", err, got.State)
	}
	if _, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: seen}); err == nil {
		t.Fatal("approved a withdrawn request")
	}
	// Not pending: nothing happens, nothing is recorded.
	before, _ := audit.List(ctx, f.pool, audit.Filter{TicketID: tk.ID})
	if got, err := tickets.LapseApproval(ctx, f.pool, tickets.SystemActor("intake"), tk.ID, "again"); err != nil || got.State != tickets.StateReady {
		t.Fatalf("lapse of a ready ticket: %v %s", err, got.State)
	}
	after, _ := audit.List(ctx, f.pool, audit.Filter{TicketID: tk.ID})
	if len(after) != len(before) {
		t.Fatalf("a no-op lapse was audited")
	}
	entries, _ := tickets.EntryListByTicket(ctx, f.pool, tk.ID)
	if last := entries[len(entries)-1]; !strings.Contains(last.Body, "proposal was accepted") {
		t.Fatalf("thread: %+v", last)
	}
}

// TestRollbackFollowsTheApprovalRules: a rollback is approved like a
// restore: bound to the digest of what it puts back, never by an author of
// the plan.
func TestRollbackFollowsTheApprovalRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk, seen := f.submitted(t)
	tk, err := tickets.ApprovePlan(ctx, f.pool, f.cat, f.river, f.approver, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: seen})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.MarkRunning(ctx, f.pool, tk.ID, tk.JobID); err != nil {
		t.Fatal(err)
	}
	keep := time.Now().Add(24 * time.Hour)
	if tk, err = tickets.Finish(ctx, f.pool, tk.ID, tickets.Result{OK: true, Message: "done",
		KeptTables: map[string]string{"public.orders": "restore_backup_t1.orders"}, KeptUntil: &keep}); err != nil {
		t.Fatal(err)
	}
	rp, err := tickets.CurrentRollbackPlan(ctx, f.pool, tk)
	if err != nil || rp.PlanDigest != seen {
		t.Fatalf("rollback plan: %v %+v", err, rp)
	}
	// The operator who prepared it holds no approver role; make them one to
	// show that the authorship, not the role, refuses.
	if _, err := f.pool.Exec(ctx, `UPDATE users SET role = 'approver' WHERE id = $1`, f.operator.UserID); err != nil {
		t.Fatal(err)
	}
	author := f.operator
	author.Role = "approver"
	if _, err := tickets.RequestRollbackPlan(ctx, f.pool, f.river, author, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: rp.Digest()}); !isPermission(err) {
		t.Fatalf("the plan's author rolls back: %v", err)
	}
	for _, d := range []string{"", seen} {
		if _, err := tickets.RequestRollbackPlan(ctx, f.pool, f.river, f.approver2, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: d}); !errors.Is(err, tickets.ErrPlanChanged) {
			t.Fatalf("rollback digest %q: %v", d, err)
		}
	}
	if n := jobCount(t, f.pool, "restore_rollback"); n != 0 {
		t.Fatalf("rollbacks queued by refused requests: %d", n)
	}
	if tk, err = tickets.RequestRollbackPlan(ctx, f.pool, f.river, f.approver2, tk.ID, tickets.Approval{ConfirmRef: "proj-alpha", PlanDigest: rp.Digest()}); err != nil || tk.RollbackJobID == 0 {
		t.Fatalf("rollback: %v", err)
	}
	var kind, digest string
	if err := f.pool.QueryRow(ctx, `SELECT kind, plan_digest FROM approvals WHERE ticket_id = $1 ORDER BY id DESC LIMIT 1`, tk.ID).Scan(&kind, &digest); err != nil || kind != "rollback" || digest != rp.Digest() {
		t.Fatalf("rollback approval row: %s %s %v", kind, digest, err)
	}
}
