package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/verify"
)

var full = tickets.Scope{Kind: tickets.ScopeFull}

func TestFullNewProjectRestore(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap, atSnapshot := h.snapshotDumpThenChange()
	liveBefore := h.checksum(h.db)

	tk := h.restore(snap, full, tickets.ModeNewProject, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	newDB := demo.DatabaseName(tk.TargetRef())
	if tk.Result.TargetDatabase != newDB || !strings.Contains(tk.Result.Message, "dbname="+newDB) {
		t.Fatalf("result does not name the new database %s: %+v", newDB, tk.Result)
	}
	if strings.Contains(tk.Result.Message, "password") {
		t.Fatalf("result carries credentials: %s", tk.Result.Message)
	}
	if got := h.dump(newDB); got != atSnapshot {
		t.Fatalf("new project differs from the snapshot's source:\n%s", testenv.DiffLines(atSnapshot, got))
	}
	h.wantLive(liveBefore, "a new-project restore changed the live database")
	var source string
	if err := h.pool.QueryRow(context.Background(), `SELECT source FROM projects WHERE ref = $1`, tk.TargetRef()).Scan(&source); err != nil || source != "restored" {
		t.Fatalf("new project not registered: %q, %v", source, err)
	}
	if tk.Result.RowCounts["auth.users"] == 0 {
		t.Fatalf("no row counts on the ticket: %+v", tk.Result.RowCounts)
	}

	// The new project gets captured like any registered one; rolling the
	// restore back drops its database but keeps its snapshots listed.
	if _, err := verify.Capture(context.Background(), snapshots.NewDeps(h.cfg, h.pool, h.deps.S3, h.deps.Log), tk.TargetRef(), true); err != nil {
		t.Fatalf("capture the new project: %v", err)
	}
	tk = h.rollback(tk.ID)
	wantState(t, tk, tickets.StateRolledBack, "rollback of a new-project restore")
	if h.databaseExists(newDB) {
		t.Fatal("rollback left the new database")
	}
	if err := h.pool.QueryRow(context.Background(), `SELECT source FROM projects WHERE ref = $1`, tk.TargetRef()).Scan(&source); err != nil || source != "discovered" {
		t.Fatalf("after rollback the new project is %q (%v), want it kept as discovered for its snapshots", source, err)
	}
}

func TestFullDestructiveRestoreAndRollback(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap, atSnapshot := h.snapshotDumpThenChange()
	beforeRestore := h.dump(h.db)
	checksumBefore := h.checksum(h.db)

	tk := h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	h.wantLiveDump(atSnapshot, "now")
	kept := tk.Result.KeptDatabase
	if kept == "" || h.dump(kept) != beforeRestore {
		t.Fatalf("kept database %q does not hold the state before the restore", kept)
	}
	if h.databaseExists(h.db + "_stg_t" + itoa(tk.ID)) {
		t.Fatal("staging database left behind")
	}
	// A safety snapshot of the live database was taken first.
	var manual int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM snapshots WHERE project_ref = $1 AND kind = 'manual'`, h.ref).Scan(&manual); err != nil || manual != 1 {
		t.Fatalf("safety snapshots: %d, %v", manual, err)
	}
	// The cleanup of the kept database is scheduled for its time.
	var cleanups int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'restore_cleanup' AND state = 'scheduled' AND args->>'database' = $1`, kept).Scan(&cleanups); err != nil || cleanups != 1 {
		t.Fatalf("scheduled cleanups of %s: %d, %v", kept, cleanups, err)
	}

	tk = h.rollback(tk.ID)
	wantState(t, tk, tickets.StateRolledBack, "rollback")
	h.wantLive(checksumBefore, "rollback did not bring back the database as it was before the restore")
}

func TestTablesNewProjectRestore(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap := h.capture()
	want := h.dump(h.db, "public.orders")
	h.change(2)

	scope := ordersScope
	tk := h.restore(snap, scope, tickets.ModeNewProject, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	newDB := tk.Result.TargetDatabase
	if got := h.dump(newDB, "public.orders"); got != stripFK(want) {
		t.Fatalf("restored public.orders differs from pg_dump -t of the source:\n%s", testenv.DiffLines(stripFK(want), got))
	}
	var others int
	conn, err := h.cl.Connect(context.Background(), newDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> 'orders'`).Scan(&others); err != nil || others != 0 {
		t.Fatalf("new project holds %d other tables (%v)", others, err)
	}
	if !strings.Contains(strings.Join(tk.Result.Warnings, " "), "orders_user_id_fkey") {
		t.Fatalf("left-out foreign key not reported: %v", tk.Result.Warnings)
	}
}

func TestTablesDestructiveRestoreAndRollback(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap := h.capture()
	ordersAtSnapshot := h.tableDigest("public.orders")
	h.change(2)
	ordersBefore := h.tableDigest("public.orders")
	usersBefore := h.tableDigest("auth.users")
	if ordersAtSnapshot == ordersBefore {
		t.Fatal("the day's changes did not touch orders; the test proves nothing")
	}

	scope := ordersScope
	tk := h.restore(snap, scope, tickets.ModeDestructive, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	if h.tableDigest("public.orders") != ordersAtSnapshot {
		t.Fatal("public.orders does not hold the snapshot's rows")
	}
	if h.tableDigest("auth.users") != usersBefore {
		t.Fatal("a table outside the scope changed")
	}
	if !strings.Contains(tk.Result.Message, "rows before") || tk.Result.KeptTables["public.orders"] == "" {
		t.Fatalf("result lacks rows before/after or the kept copy: %+v", tk.Result)
	}
	tk = h.rollback(tk.ID)
	wantState(t, tk, tickets.StateRolledBack, "rollback")
	if h.tableDigest("public.orders") != ordersBefore {
		t.Fatal("rollback did not put the rows back")
	}
}

func TestTablesDestructiveRefusesChangedColumns(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap := h.capture()
	h.exec(`ALTER TABLE public.orders ADD COLUMN coupon text`)
	before := h.checksum(h.db)
	scope := ordersScope
	tk := h.restore(snap, scope, tickets.ModeDestructive, tickets.Options{})
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, `column "coupon" (text) is in the live table, not in the snapshot`) {
		t.Fatalf("want a failure with a readable column diff, got %s: %+v", tk.State, tk.Result)
	}
	h.wantLive(before, "live database changed by a refused restore")
}

func TestTablesDestructiveRefusesDanglingRowsUnlessAllowed(t *testing.T) {
	t.Parallel()
	h, snap, before := newChangedHarness(t) // users of day 2 have orders and objects; restoring users drops them
	scope := tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"auth.users"}}
	tk := h.restore(snap, scope, tickets.ModeDestructive, tickets.Options{})
	if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "point at missing rows of auth.users") {
		t.Fatalf("want a failure listing dangling references, got %s: %+v", tk.State, tk.Result)
	}
	h.wantLive(before, "live database changed by a refused restore")
	if _, err := tickets.Retry(context.Background(), h.pool, h.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	allowed := h.restore(snap, scope, tickets.ModeDestructive, tickets.Options{AllowDangling: true})
	if allowed.State != tickets.StateSucceeded || len(allowed.Result.Warnings) == 0 {
		t.Fatalf("with the option the restore should succeed and list the references: %s %+v", allowed.State, allowed.Result)
	}
}

func TestCorruptSnapshotFailsBeforeAnythingChanges(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	h.change(2)
	before := h.checksum(h.db)
	ctx := context.Background()
	for _, mode := range []tickets.Mode{tickets.ModeDestructive, tickets.ModeNewProject} {
		// The object is cut short after it was verified (a bad re-upload, say). Reads
		// are pinned to the verified version, so the restore refuses it as a changed
		// object (and the snapshot goes back to verification, so each mode gets its own).
		snap := h.capture()
		obj, err := h.deps.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &snap.Key})
		if err != nil {
			t.Fatal(err)
		}
		whole := readAllFrom(t, obj.Body, nil)
		if _, err := h.deps.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &snap.Key, Body: strings.NewReader(string(whole[:len(whole)/2]))}); err != nil {
			t.Fatal(err)
		}
		tk := h.restore(snap, full, mode, tickets.Options{})
		// The cheap check refuses the cut object by its size before any download.
		if tk.State != tickets.StateFailed || !strings.Contains(tk.Result.Message, "cut short or replaced") {
			t.Fatalf("%s restore of a truncated dump: %s %+v", mode, tk.State, tk.Result)
		}
		if h.checksum(h.db) != before {
			t.Fatalf("%s restore of a truncated dump changed the live database", mode)
		}
		if h.databaseExists(h.db+"_stg_t"+itoa(tk.ID)) || h.databaseExists(demo.DatabaseName(tk.TargetRef())) {
			t.Fatalf("%s restore left a staging or new database behind", mode)
		}
	}
}
