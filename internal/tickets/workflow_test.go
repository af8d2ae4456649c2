package tickets_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

type fixture struct {
	pool                       *pgxpool.Pool
	river                      *river.Client[pgx.Tx]
	cat                        tickets.Catalog
	snaps, bravo               []tickets.Snapshot
	viewer, operator, approver tickets.Actor
	approver2                  tickets.Actor
}

func setup(t *testing.T) fixture {
	t.Helper()
	pool := testenv.PortalPool(t)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{pool: pool, river: rc, cat: tickets.SnapshotCatalog(pool), snaps: tickettest.Snapshots(t, pool, "proj-alpha")}
	f.bravo = tickettest.Snapshots(t, pool, "proj-bravo")
	act := func(email string, r auth.Role) tickets.Actor {
		return tickets.UserActor(tickettest.User(t, pool, email, r), "127.0.0.1")
	}
	f.viewer = act("viewer@example.com", auth.RoleViewer)
	f.operator = act("operator@example.com", auth.RoleOperator)
	f.approver = act("approver@example.com", auth.RoleApprover)
	f.approver2 = act("approver2@example.com", auth.RoleApprover)
	return f
}

func (f fixture) newTicket(t *testing.T, project string, mode tickets.Mode) tickets.Ticket {
	t.Helper()
	at := time.Now().Add(-36 * time.Hour)
	tk, err := tickets.Create(context.Background(), f.pool, f.cat, f.operator, tickets.NewTicket{
		Source: tickets.SourcePortal, RequesterEmail: "Customer <cust@example.org>", ProjectRef: project,
		RequestedAt: &at, Mode: mode, Note: "please restore"})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func jobCount(t *testing.T, pool *pgxpool.Pool, kind string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDestructiveRestoreLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.newTicket(t, "proj-alpha", tickets.ModeDestructive)
	if tk.State != tickets.StateNew || tk.SnapshotID == 0 || tk.RequesterName != "Customer" {
		t.Fatalf("created: %+v", tk)
	}
	prep := tickets.Preparation{SnapshotID: f.snaps[1].ID, Mode: tickets.ModeDestructive}
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, prep); !isValidation(err, "snapshot_id") {
		t.Fatalf("corrupt snapshot: got %v", err)
	}
	prep.SnapshotID = f.snaps[2].ID
	prep.Scope = tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.orders", "nope.missing"}}
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, prep); !isValidation(err, "scope") {
		t.Fatalf("unknown table: got %v", err)
	}
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.bravo[0].ID, Mode: tickets.ModeDestructive}); !isValidation(err, "snapshot_id") {
		t.Fatalf("other project's snapshot: got %v", err)
	}
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.viewer, tk.ID, prep); !isPermission(err) {
		t.Fatalf("viewer prepares: got %v", err)
	}
	prep.Scope.Tables = []string{"orders", "auth.users"}
	tk, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, prep)
	if err != nil {
		t.Fatal(err)
	}
	if tk.State != tickets.StateReady || tk.Scope.Tables[0] != "public.orders" || tk.PreparedBy != f.operator.UserID {
		t.Fatalf("prepared: %+v", tk)
	}
	if _, err := tickets.Start(ctx, f.pool, f.river, f.operator, tk.ID); !isPermission(err) {
		t.Fatalf("operator starts destructive: got %v", err)
	}
	if tk, err = tickets.Submit(ctx, f.pool, f.operator, tk.ID); err != nil || tk.State != tickets.StateAwaitingApproval {
		t.Fatalf("submit: %v %s", err, tk.State)
	}
	if _, err := tickets.Approve(ctx, f.pool, f.river, f.operator, tk.ID, "proj-alpha"); !isPermission(err) {
		t.Fatalf("operator approves: got %v", err)
	}
	if _, err := tickets.Approve(ctx, f.pool, f.river, f.viewer, tk.ID, "proj-alpha"); !isPermission(err) {
		t.Fatalf("viewer approves: got %v", err)
	}
	if _, err := tickets.Approve(ctx, f.pool, f.river, f.approver, tk.ID, "proj-alphA"); !isValidation(err, "confirm_ref") {
		t.Fatalf("wrong ref: got %v", err)
	}
	// An approver who prepares may not approve their own. (Saving the triage
	// while approval is pending is refused: withdraw first.)
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.approver2, tk.ID, prep); !isValidation(err, "state") {
		t.Fatalf("prepare while pending: got %v", err)
	}
	if _, err := tickets.Withdraw(ctx, f.pool, f.approver2, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.approver2, tk.ID, prep); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Submit(ctx, f.pool, f.approver2, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Approve(ctx, f.pool, f.river, f.approver2, tk.ID, "proj-alpha"); !isPermission(err) {
		t.Fatalf("preparer approves: got %v", err)
	}
	if n := jobCount(t, f.pool, "restore"); n != 0 {
		t.Fatalf("jobs before approval: %d", n)
	}
	tk, err = tickets.Approve(ctx, f.pool, f.river, f.approver, tk.ID, "proj-alpha")
	if err != nil {
		t.Fatal(err)
	}
	if tk.State != tickets.StateQueued || tk.JobID == 0 || tk.ApprovedBy != f.approver.UserID {
		t.Fatalf("approved: %+v", tk)
	}
	var args []byte
	var queue string
	if err := f.pool.QueryRow(ctx, `SELECT args, queue FROM river_job WHERE id = $1 AND kind = 'restore'`, tk.JobID).Scan(&args, &queue); err != nil {
		t.Fatalf("job row: %v", err)
	}
	if queue != "restore" || string(args) == "" {
		t.Fatalf("job: %s %s", queue, args)
	}
	// The job, the state change and the approval were written by one
	// transaction: their rows carry the same xmin.
	var sameTx bool
	if err := f.pool.QueryRow(ctx, `SELECT t.xmin::text = j.xmin::text AND a.xmin::text = j.xmin::text
		FROM tickets t JOIN river_job j ON j.id = t.job_id JOIN approvals a ON a.ticket_id = t.id WHERE t.id = $1`, tk.ID).Scan(&sameTx); err != nil || !sameTx {
		t.Fatalf("job and approval not in the state change's transaction: %v %v", err, sameTx)
	}
	for _, secret := range []string{"password", "secret", "access_key", "postgres://"} {
		if strings.Contains(strings.ToLower(string(args)), secret) {
			t.Fatalf("job args carry %q: %s", secret, args)
		}
	}
	// A second restore of the same project is refused while one is queued.
	tk2 := f.newTicket(t, "proj-alpha", tickets.ModeNewProject)
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk2.ID, tickets.Preparation{SnapshotID: f.snaps[3].ID, Mode: tickets.ModeNewProject}); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Start(ctx, f.pool, f.river, f.operator, tk2.ID); !errors.Is(err, tickets.ErrRestoreInProgress) {
		t.Fatalf("second restore of project: got %v", err)
	}
	if got, _ := tickets.TicketGet(ctx, f.pool, tk2.ID); got.State != tickets.StateReady {
		t.Fatalf("refused start left state %s", got.State)
	}
	// The worker's side.
	if err := tickets.UpdateProgress(ctx, f.pool, tk.ID, tickets.Progress{Phase: "data"}); !errors.Is(err, tickets.ErrNotRunning) {
		t.Fatalf("progress before running: %v", err)
	}
	if _, err := tickets.MarkRunning(ctx, f.pool, tk.ID, tk.JobID); err != nil {
		t.Fatal(err)
	}
	if err := tickets.UpdateProgress(ctx, f.pool, tk.ID, tickets.Progress{Phase: "data", Percent: 140, CurrentTable: "public.orders"}); err != nil {
		t.Fatal(err)
	}
	tk, _ = tickets.TicketGet(ctx, f.pool, tk.ID)
	if tk.Progress.Percent != 100 || tk.Progress.CurrentTable != "public.orders" {
		t.Fatalf("progress: %+v", tk.Progress)
	}
	keep := time.Now().Add(7 * 24 * time.Hour)
	tk, err = tickets.Finish(ctx, f.pool, tk.ID, tickets.Result{OK: true, Message: "2 tables restored",
		KeptTables: map[string]string{"public.orders": "_restore_kept.orders"}, KeptUntil: &keep})
	if err != nil || tk.State != tickets.StateSucceeded || tk.Progress.Phase != "done" {
		t.Fatalf("finish: %v %+v", err, tk)
	}
	if _, err := tickets.RequestRollback(ctx, f.pool, f.river, f.operator, tk.ID, "proj-alpha"); !isPermission(err) {
		t.Fatalf("operator rollback: %v", err)
	}
	if tk, err = tickets.RequestRollback(ctx, f.pool, f.river, f.approver, tk.ID, "proj-alpha"); err != nil || tk.RollbackJobID == 0 {
		t.Fatalf("rollback: %v", err)
	}
	if n := jobCount(t, f.pool, "restore_rollback"); n != 1 {
		t.Fatalf("rollback jobs: %d", n)
	}
	if tk, err = tickets.FinishRollback(ctx, f.pool, tk.ID, nil); err != nil || tk.State != tickets.StateRolledBack {
		t.Fatalf("finish rollback: %v %s", err, tk.State)
	}
	evs, err := audit.List(ctx, f.pool, audit.Filter{TicketID: tk.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ticket.created", "ticket.prepared", "ticket.submitted", "ticket.withdrawn", "ticket.prepared", "ticket.submitted",
		"ticket.approved", "restore.started", "restore.succeeded", "restore.rollback_requested", "restore.rolled_back"}
	if len(evs) != len(want) {
		t.Fatalf("audit: %d events, want %d", len(evs), len(want))
	}
	for i, w := range want {
		if got := evs[len(evs)-1-i].Action; got != w {
			t.Errorf("audit[%d] = %s, want %s", i, got, w)
		}
	}
	if _, err := f.pool.Exec(ctx, `DELETE FROM audit_events`); err == nil {
		t.Fatal("audit trail accepted a delete")
	}
}

func TestCancelledTicketStopsWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.newTicket(t, "proj-bravo", tickets.ModeNewProject)
	if _, err := tickets.Prepare(ctx, f.pool, f.cat, f.operator, tk.ID, tickets.Preparation{SnapshotID: f.bravo[3].ID, Mode: tickets.ModeNewProject}); err != nil {
		t.Fatal(err)
	}
	tk, err := tickets.Start(ctx, f.pool, f.river, f.operator, tk.ID)
	if err != nil || tk.State != tickets.StateQueued || jobCount(t, f.pool, "restore") != 1 {
		t.Fatalf("start: %v %s", err, tk.State)
	}
	if _, err := tickets.Cancel(ctx, f.pool, f.operator, tk.ID, "customer found the data"); err != nil {
		t.Fatal(err)
	}
	var te *tickets.TransitionError
	if _, err := tickets.MarkRunning(ctx, f.pool, tk.ID, tk.JobID); !errors.As(err, &te) {
		t.Fatalf("mark running a cancelled ticket: %v", err)
	}
	if _, err := tickets.Reject(ctx, f.pool, f.operator, tk.ID, "x"); !errors.As(err, &te) {
		t.Fatalf("reject cancelled: %v", err)
	}
}

func TestMailThread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	intake := tickets.SystemActor("intake")
	tk, err := tickets.Create(ctx, f.pool, f.cat, intake, tickets.NewTicket{Source: tickets.SourceEmail,
		Subject: "Please restore", RequesterEmail: "cust@example.org", ProjectRef: "proj-unknown",
		Mail: &tickets.Entry{From: "cust@example.org", Subject: "Please restore", Body: "yesterday", MessageID: "<a1@example.org>"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.AddEntry(ctx, f.pool, intake, tickets.Entry{TicketID: tk.ID, Kind: tickets.EntryMailIn, MessageID: "<a2@example.org>", InReplyTo: "<a1@example.org>", Body: "only orders"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.AddEntry(ctx, f.pool, intake, tickets.Entry{TicketID: tk.ID, Kind: tickets.EntryMailIn, MessageID: "a2@example.org"}); !errors.Is(err, tickets.ErrDuplicateMessage) {
		t.Fatalf("duplicate: %v", err)
	}
	got, err := tickets.FindByMessageID(ctx, f.pool, "<zz@example.org>", "<a2@example.org>")
	if err != nil || got.ID != tk.ID {
		t.Fatalf("find: %v %d", err, got.ID)
	}
	if _, err := tickets.FindByMessageID(ctx, f.pool, "<zz@example.org>"); !errors.Is(err, tickets.ErrNotFound) {
		t.Fatalf("find missing: %v", err)
	}
	entries, err := tickets.EntryListByTicket(ctx, f.pool, tk.ID)
	if err != nil || len(entries) != 2 {
		t.Fatalf("thread: %v %d", err, len(entries))
	}
	if _, err := tickets.AddEntry(ctx, f.pool, f.viewer, tickets.Entry{TicketID: tk.ID, Kind: tickets.EntryNote, Body: "hi"}); !isPermission(err) {
		t.Fatalf("viewer note: %v", err)
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	future := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name  string
		n     tickets.NewTicket
		field string
	}{
		{"bad email", tickets.NewTicket{RequesterEmail: "nope", ProjectRef: "proj-alpha"}, "requester_email"},
		{"bad ref", tickets.NewTicket{RequesterEmail: "a@b.c", ProjectRef: "Proj Alpha!"}, "project_ref"},
		{"unknown project", tickets.NewTicket{RequesterEmail: "a@b.c", ProjectRef: "proj-zulu"}, "project_ref"},
		{"future", tickets.NewTicket{RequesterEmail: "a@b.c", ProjectRef: "proj-alpha", RequestedAt: &future}, "requested_at"},
		{"bad tz", tickets.NewTicket{RequesterEmail: "a@b.c", ProjectRef: "proj-alpha", RequestedTZ: "Mars/Base"}, "requested_tz"},
		{"bad mode", tickets.NewTicket{RequesterEmail: "a@b.c", ProjectRef: "proj-alpha", Mode: "wipe"}, "mode"},
		{"empty tables", tickets.NewTicket{RequesterEmail: "a@b.c", ProjectRef: "proj-alpha", Scope: tickets.Scope{Kind: tickets.ScopeTables}}, "scope"},
		{"injection", tickets.NewTicket{RequesterEmail: "a@b.c", ProjectRef: "proj-alpha", Scope: tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"public.x; drop table y"}}}, "scope"},
	} {
		tc.n.Source = tickets.SourceAPI
		if _, err := tickets.Create(ctx, f.pool, f.cat, f.operator, tc.n); !isValidation(err, tc.field) {
			t.Errorf("%s: got %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
	if _, err := tickets.Create(ctx, f.pool, f.cat, f.viewer, tickets.NewTicket{Source: tickets.SourcePortal, RequesterEmail: "a@b.c", ProjectRef: "proj-alpha"}); !isPermission(err) {
		t.Errorf("viewer creates: %v", err)
	}
}

func isValidation(err error, field string) bool {
	var ve *tickets.ValidationError
	return errors.As(err, &ve) && ve.Field == field
}

func isPermission(err error) bool {
	var pe *tickets.PermissionError
	return errors.As(err, &pe)
}

// TestSnapshotReferences checks the retention guard: an open ticket's
// snapshot is referenced, a closed one's is not.
func TestSnapshotReferences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	tk := f.newTicket(t, "proj-alpha", tickets.ModeNewProject)
	refs := func() []int64 {
		rows, err := f.pool.Query(ctx, `SELECT snapshot_id FROM snapshot_references ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := refs(); len(got) != 1 || got[0] != tk.SnapshotID {
		t.Fatalf("open ticket: %v, want [%d]", got, tk.SnapshotID)
	}
	if _, err := tickets.Reject(ctx, f.pool, f.operator, tk.ID, "duplicate"); err != nil {
		t.Fatal(err)
	}
	if got := refs(); len(got) != 0 {
		t.Fatalf("rejected ticket still references %v", got)
	}
}

// TestStateCounts checks the trigger-kept counts against a real count.
func TestStateCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	a := f.newTicket(t, "proj-alpha", tickets.ModeNewProject)
	b := f.newTicket(t, "proj-bravo", tickets.ModeNewProject)
	f.newTicket(t, "proj-bravo", tickets.ModeDestructive)
	if _, err := tickets.Reject(ctx, f.pool, f.operator, a.ID, "dup"); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.AskForInfo(ctx, f.pool, f.operator, b.ID, "which time?"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `DELETE FROM tickets WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	got, err := tickets.TicketCountByState(ctx, f.pool)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := f.pool.Query(ctx, `SELECT state, count(*)::int FROM tickets GROUP BY state`)
	want := map[tickets.State]int{}
	var s tickets.State
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&s, &n}, func() error { want[s] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, st := range tickets.States {
		if got[st] != want[st] {
			t.Errorf("%s: kept %d, counted %d", st, got[st], want[st])
		}
	}
	if got[tickets.StateNew] != 1 || got[tickets.StateRejected] != 1 {
		t.Errorf("counts: %v", got)
	}
}

// TestCreateWithNamedSnapshot: a request naming its snapshot ("Request a
// restore") suggests exactly that one, even where the requested time would
// resolve to another; another project's snapshot, an unusable one and one
// that does not exist are refused on snapshot_id and record nothing.
func TestCreateWithNamedSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	at := f.snaps[3].TakenAt // resolves to snaps[3]
	tk, err := tickets.Create(ctx, f.pool, f.cat, f.operator, tickets.NewTicket{Source: tickets.SourcePortal, RequesterEmail: "a@b.c",
		ProjectRef: "proj-alpha", RequestedAt: &at, SnapshotID: f.snaps[0].ID})
	if err != nil || tk.SnapshotID != f.snaps[0].ID {
		t.Fatalf("named snapshot: %v, suggested %d want %d", err, tk.SnapshotID, f.snaps[0].ID)
	}
	before := ticketCount(t, f)
	for name, id := range map[string]int64{"another project's": f.bravo[0].ID, "corrupt": f.snaps[1].ID, "missing": 1 << 40} {
		_, err := tickets.Create(ctx, f.pool, f.cat, f.operator, tickets.NewTicket{Source: tickets.SourcePortal, RequesterEmail: "a@b.c",
			ProjectRef: "proj-alpha", SnapshotID: id})
		if !isValidation(err, "snapshot_id") {
			t.Errorf("%s snapshot: %v", name, err)
		}
	}
	if after := ticketCount(t, f); after != before {
		t.Errorf("refused requests recorded %d tickets", after-before)
	}
}

func ticketCount(t *testing.T, f fixture) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM tickets`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
