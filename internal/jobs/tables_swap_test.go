package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// liveQuery reads one value from the live database.
func liveQuery[T any](h *harness, db, sql string, args ...any) T {
	h.t.Helper()
	ctx := context.Background()
	conn, err := h.cl.Connect(ctx, db)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		h.t.Fatalf("%s: %s: %v", db, sql, err)
	}
	return v
}

// TestTablesSwapKeepsBackupOutsideAndRollbackKeepsWritesSince restores
// storage.objects and the partitioned public.events destructively, then
// writes (a new object and a document pointing at it) and rolls back:
//   - the restore took a tables-only safety snapshot, kept the replaced rows
//     in a backup database (not in the live one), recorded the swap as
//     committed and scheduled the backup's cleanup;
//   - the rollback refuses while a document points at an object written
//     since the restore, leaving live unchanged;
//   - once that reference is gone it puts the old rows back, keeps the rows
//     written since in an aside database the ticket names, with a summary of
//     how many, and the next insert gets a fresh id.
func TestTablesSwapKeepsBackupOutsideAndRollbackKeepsWritesSince(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	ctx := context.Background()
	snap := h.capture()
	// Changes since the snapshot that leave no reference dangling.
	h.exec(`UPDATE storage.objects SET path = path || '.v2' WHERE id % 2 = 0;
		INSERT INTO public.events (at, kind) VALUES ('2025-06-01', 'late'), ('2026-06-01', 'later')`)
	objectsBefore := h.tableDigest("storage.objects")
	eventsBefore := h.tableDigest("public.events")

	scope := tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"storage.objects", "public.events"}}
	tk := h.restore(snap, scope, tickets.ModeDestructive, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	if h.tableDigest("storage.objects") == objectsBefore {
		t.Fatal("the restore did not change storage.objects; the test proves nothing")
	}
	backupDB := h.db + "_bak_t" + itoa(tk.ID)
	if !h.databaseExists(backupDB) || !strings.Contains(tk.Result.KeptTables["storage.objects"], backupDB) {
		t.Fatalf("no backup database %s named on the ticket: %+v", backupDB, tk.Result.KeptTables)
	}
	if n := liveQuery[int64](h, h.db, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'restore_backup%'`); n != 0 {
		t.Fatal("the backup lives inside the live database")
	}
	if got := liveQuery[int64](h, backupDB, `SELECT rows FROM backup._kept WHERE source_table = 'storage.objects'`); got == 0 {
		t.Fatal("the backup database holds no rows of storage.objects")
	}
	var state, key string
	if err := h.pool.QueryRow(ctx, `SELECT state FROM ticket_table_swaps WHERE ticket_id = $1 AND op = 'restore'`, tk.ID).Scan(&state); err != nil || state != "committed" {
		t.Fatalf("swap record: %q %v", state, err)
	}
	if err := h.pool.QueryRow(ctx, `SELECT key FROM snapshots WHERE project_ref = $1 AND kind = 'manual'`, h.ref).Scan(&key); err != nil || !strings.HasSuffix(key, ".tables.sql.gz") {
		t.Fatalf("tables safety snapshot: %q %v", key, err)
	}
	var cleanups int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'restore_cleanup' AND state = 'scheduled' AND args->>'database' = $1`, backupDB).Scan(&cleanups); err != nil || cleanups != 1 {
		t.Fatalf("scheduled cleanups of %s: %d, %v", backupDB, cleanups, err)
	}

	// Writes since the restore: an object, and a document pointing at it.
	newObj := liveQuery[int64](h, h.db, `INSERT INTO storage.objects (path) VALUES ('written after the restore') RETURNING id`)
	h.exec(`INSERT INTO ai.documents (object_id, title) VALUES (` + itoa(newObj) + `, 'points at a new object')`)
	beforeRefused := h.checksum(h.db)
	tk = h.rollback(tk.ID)
	if tk.State == tickets.StateRolledBack || !strings.Contains(tk.Result.RollbackError, "ai.documents") {
		t.Fatalf("rollback with a document pointing at a new object: want a refusal naming ai.documents, got %s %q", tk.State, tk.Result.RollbackError)
	}
	h.wantLive(beforeRefused, "a refused rollback changed the live database")

	// The refused rollback's job ends after the ticket records the refusal;
	// a new rollback may be requested once it has.
	var jobID int64
	if err := h.pool.QueryRow(ctx, `SELECT id FROM river_job WHERE kind = 'restore_rollback' AND (args->>'ticket_id')::bigint = $1`, tk.ID).Scan(&jobID); err != nil {
		t.Fatal(err)
	}
	h.waitJobFinalized(jobID)
	h.exec(`DELETE FROM ai.documents WHERE object_id = ` + itoa(newObj))
	tk = h.rollback(tk.ID)
	wantState(t, tk, tickets.StateRolledBack, "rollback")
	if h.tableDigest("storage.objects") != objectsBefore || h.tableDigest("public.events") != eventsBefore {
		t.Fatal("rollback did not put the rows back")
	}
	asideDB := h.db + "_rba_t" + itoa(tk.ID)
	if !strings.HasPrefix(tk.Result.RollbackKept, asideDB) || tk.Result.RollbackKeptUntil == nil ||
		!strings.Contains(tk.Result.RollbackSummary, "1 rows written to storage.objects since the restore will be kept in database "+asideDB) {
		t.Fatalf("rollback result does not say where the writes since were kept: %+v", tk.Result)
	}
	if got := liveQuery[int64](h, asideDB, `SELECT count(*) FROM aside."storage.objects" WHERE id = $1`, itoa(newObj)); got != 1 {
		t.Fatal("the object written since the restore is not kept aside")
	}
	next := liveQuery[int64](h, h.db, `INSERT INTO storage.objects (path) VALUES ('after the rollback') RETURNING id`)
	if next <= newObj {
		t.Fatalf("next object id %d reuses a kept-aside key (%d)", next, newObj)
	}
}

// TestFullRollbackNamesWhereLaterWritesAreKept: the rollback of a full
// restore records the database holding what was written since, and until
// when.
func TestFullRollbackNamesWhereLaterWritesAreKept(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	snap := h.capture()
	tk := h.restore(snap, full, tickets.ModeDestructive, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	tk = h.rollback(tk.ID)
	wantState(t, tk, tickets.StateRolledBack, "rollback")
	aside := h.db + "_rb_t" + itoa(tk.ID)
	if tk.Result.RollbackKept != aside || tk.Result.RollbackKeptUntil == nil || !strings.Contains(tk.Result.RollbackSummary, "kept as "+aside+" until") {
		t.Fatalf("rollback result does not name %s and its retention: %+v", aside, tk.Result)
	}
	if !h.databaseExists(aside) {
		t.Fatalf("%s is not there", aside)
	}
}

// ownByRole makes a non-superuser login role own the live database and all
// its tables, as a customer's owner role does, and returns its name.
func (h *harness) ownByRole() string {
	h.t.Helper()
	role := "owner_" + strings.ReplaceAll(h.ref, "-", "_")
	h.adminExec(`CREATE ROLE ` + role + ` LOGIN NOSUPERUSER; ALTER DATABASE "` + h.db + `" OWNER TO ` + role)
	h.t.Cleanup(func() {
		h.dropDatabases()
		h.adminExec(`DROP ROLE IF EXISTS ` + role)
	})
	h.exec(`DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT quote_ident(nspname) AS s FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('information_schema', 'public') LOOP
			EXECUTE 'ALTER SCHEMA ' || r.s || ' OWNER TO ` + role + `';
		END LOOP;
		FOR r IN SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') LOOP
			EXECUTE 'ALTER TABLE ' || r.t || ' OWNER TO ` + role + `';
		END LOOP; END $$`)
	return role
}

// TestTablesSwapWaitsForLocksAndSurvivesItsSessionKilled holds a lock on the
// live table from another session: the ticket shows the swap waiting for it,
// as the database's non-superuser owner.
// The swap's session is then terminated while it waits: the ticket fails,
// the live database is unchanged; retried on the same ticket once the lock
// is gone, the restore succeeds.
func TestTablesSwapWaitsForLocksAndSurvivesItsSessionKilled(t *testing.T) {
	t.Parallel()
	h := newWorkingHarness(t)
	ctx := context.Background()
	snap := h.capture()
	atSnapshot := h.tableDigest("storage.objects")
	h.exec(`UPDATE storage.objects SET path = path || '.v2'`)
	owner := h.ownByRole()

	holder, err := h.cl.Connect(ctx, h.db)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	htx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := htx.Exec(ctx, `LOCK TABLE storage.objects IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	before := h.checksum(h.db)

	scope := tickets.Scope{Kind: tickets.ScopeTables, Tables: []string{"storage.objects"}}
	tk := h.ticket(snap, scope, tickets.ModeDestructive, tickets.Options{})
	if tk := h.wait(tk.ID, 2*time.Minute, func(tk tickets.Ticket) bool {
		return tk.State == tickets.StateFailed ||
			tk.Progress != nil && strings.Contains(tk.Progress.Message, "waiting for other sessions to release the tables (1 holding locks")
	}); tk.State == tickets.StateFailed {
		t.Fatalf("restore failed before its swap: %s", tk.Result.Message)
	}
	admin, err := h.cl.Connect(ctx, h.db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for killed := false; !killed; {
		// The waiting swap runs as the database's owner, not as a superuser:
		// logged in as a restore login role that is only a member of the owner
		// (cluster.ConnectOwner), shown here as the owner.
		var who []string
		rows, err := admin.Query(ctx, `SELECT CASE WHEN starts_with(a.usename, $1) AND pg_has_role(a.usename, $2, 'MEMBER')
				THEN $2 ELSE a.usename END || ':' || r.rolsuper FROM pg_locks l
			JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_roles r ON r.rolname = a.usename
			WHERE l.relation = 'storage.objects'::regclass AND NOT l.granted`, cluster.LoginPrefix, owner)
		if err == nil {
			who, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range who {
			if w != owner+":false" {
				t.Fatalf("the swap waits for its lock as %s, want %s:false", w, owner)
			}
		}
		if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) > 0 FROM pg_locks
			WHERE relation = 'storage.objects'::regclass AND NOT granted`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("never saw the swap waiting for its lock")
		}
	}
	tk = h.waitFinal(tk.ID)
	wantState(t, tk, tickets.StateFailed, "restore whose swap session was killed")
	h.wantLive(before, "the live database changed although the swap's session was killed")
	if err := htx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	if _, err := tickets.Retry(ctx, h.pool, h.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Submit(ctx, h.pool, h.operator, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Approve(ctx, h.pool, h.river, h.approver, tk.ID, h.ref); err != nil {
		t.Fatal(err)
	}
	tk = h.waitEnded(tk.ID, 3*time.Minute)
	wantState(t, tk, tickets.StateSucceeded, "retried restore")
	if h.tableDigest("storage.objects") != atSnapshot {
		t.Fatal("storage.objects does not hold the snapshot's rows after the retry")
	}
}
