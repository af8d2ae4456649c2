package jobs_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

const opsAddress = "ops@example.com"

// newDrillHarness is a harness whose alarms are mailed to opsAddress.
func newDrillHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, randomRef(), func(c *config.Config) { c.Drills.OpsAddress = opsAddress })
}

// drillNow queues a manual drill and waits for it to pass or fail, and for
// its job to end (the alarms are raised after the record).
func (h *harness) drillNow() drills.Drill {
	h.t.Helper()
	jobID, err := drills.DrillNow(context.Background(), h.river, h.ref)
	if err != nil {
		h.t.Fatalf("drill now: %v", err)
	}
	d := h.waitDrill(func(d drills.Drill) bool {
		return d.JobID == jobID && (d.Outcome == drills.OutcomePassed || d.Outcome == drills.OutcomeFailed)
	})
	h.waitJobFinalized(jobID)
	return d
}

// waitDrill polls the project's newest drill until done says so.
func (h *harness) waitDrill(done func(drills.Drill) bool) drills.Drill {
	h.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		list, err := drills.DrillListByProject(context.Background(), h.pool, h.ref, 1)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(list) == 1 && done(list[0]) {
			return list[0]
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no drill of %s as awaited after 3m: %+v", h.ref, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDrillID waits for drill id's record to end (any outcome but running).
func (h *harness) waitDrillID(id int64) drills.Drill {
	h.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		d, err := drills.DrillGet(context.Background(), h.pool, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if d.Outcome != drills.OutcomeRunning {
			return d
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("drill %d still running after 3m: %+v", id, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) openAlarms() []drills.Alarm {
	h.t.Helper()
	list, err := drills.AlarmsOpen(context.Background(), h.pool, h.ref, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

// alarmMailJobs counts the alarm mail jobs queued.
func (h *harness) alarmMailJobs() int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1`, drills.AlarmMailArgs{}.Kind()).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// drillHook returns deps whose drill hook calls f with the drill's record
// each time a drill reaches step.
func (h *harness) drillHook(deps jobs.Deps, step jobs.Step, f func(context.Context, drills.Drill) error) jobs.Deps {
	deps.Drill.Hook = func(ctx context.Context, id int64, s jobs.Step) error {
		if s != step {
			return nil
		}
		d, err := drills.DrillGet(ctx, h.pool, id)
		if err != nil {
			return err
		}
		return f(ctx, d)
	}
	return deps
}

// atDrillApplied is drillHook at the moment a drill has restored its
// scratch database (StepApplied).
func (h *harness) atDrillApplied(deps jobs.Deps, f func(context.Context, drills.Drill) error) jobs.Deps {
	return h.drillHook(deps, jobs.StepApplied, f)
}

// onScratchApplied is atDrillApplied with f given a connection to the
// restored scratch database.
func (h *harness) onScratchApplied(deps jobs.Deps, f func(context.Context, drills.Drill, *pgx.Conn) error) jobs.Deps {
	return h.atDrillApplied(deps, func(ctx context.Context, d drills.Drill) error {
		conn, err := h.cl.Connect(ctx, d.ScratchDatabase)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return f(ctx, d, conn)
	})
}

// tablesWithData counts the tables of snap's verified inventory that hold
// data, and their rows: what a drill of it must check.
func (h *harness) tablesWithData(snap snapshots.Snapshot) (tables int, rows int64) {
	h.t.Helper()
	inv, err := snapshots.SnapshotTables(context.Background(), h.pool, snap.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, tb := range inv {
		if tb.HasData {
			tables++
			rows += tb.Rows
		}
	}
	return tables, rows
}

func TestDrillOfAGoodSnapshotPassesAndRecordsItsTime(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	var sawOwner atomic.Value
	// The copy is owned by the project's owner role, as a restore's is.
	deps := h.onScratchApplied(h.deps, func(ctx context.Context, d drills.Drill, conn *pgx.Conn) error {
		var dbOwner, tableOwner string
		err := conn.QueryRow(ctx, `SELECT pg_get_userbyid(d.datdba), (SELECT tableowner FROM pg_tables WHERE schemaname = 'auth' AND tablename = 'users')
			FROM pg_database d WHERE datname = current_database()`).Scan(&dbOwner, &tableOwner)
		sawOwner.Store(dbOwner + "/" + tableOwner + "/" + d.ScratchDatabase)
		return err
	})
	h.startRiverWith(deps)
	snap := h.capture()
	liveBefore := h.checksum(h.db)

	d := h.drillNow()
	if d.Outcome != drills.OutcomePassed {
		t.Fatalf("drill %s: %s (notes %v)", d.Outcome, d.Reason, d.Notes)
	}
	if d.SnapshotID == nil || *d.SnapshotID != snap.ID || d.SnapshotAt == nil || !d.SnapshotAt.Equal(snap.Time()) {
		t.Fatalf("drill proved snapshot %v at %v, want %d at %v", d.SnapshotID, d.SnapshotAt, snap.ID, snap.Time())
	}
	if d.RecoveryMS == nil || *d.RecoveryMS <= 0 || d.DurationMS == nil || *d.DurationMS < *d.RecoveryMS {
		t.Fatalf("recovery %v, duration %v: not recorded", d.RecoveryMS, d.DurationMS)
	}
	if d.Bytes != snap.Size {
		t.Fatalf("bytes %d, want the snapshot's %d", d.Bytes, snap.Size)
	}
	checkDrillPhases(t, d)
	withData, rows := h.tablesWithData(snap)
	if d.TablesChecked != withData || d.RowsChecked != rows || rows == 0 {
		t.Fatalf("checked %d tables, %d rows; the inventory has %d tables with %d rows", d.TablesChecked, d.RowsChecked, withData, rows)
	}
	// amcheck ships with the stack's Postgres (postgresql-contrib): every
	// B-tree index is checked, none is skipped.
	if d.IndexesChecked == 0 {
		t.Fatalf("no index checked by amcheck; notes: %v", d.Notes)
	}
	for _, n := range d.Notes {
		if strings.Contains(n, "amcheck") {
			t.Fatalf("amcheck did not run: %s", n)
		}
	}
	if d.FKsChecked == 0 {
		t.Fatalf("no foreign key checked (the demo schema has some)")
	}
	owner, _ := sawOwner.Load().(string)
	parts := strings.Split(owner, "/")
	if len(parts) != 3 || parts[0] != parts[1] || !strings.HasSuffix(parts[0], "_owner") {
		t.Fatalf("the scratch copy was not owned by the project's owner role: %q", owner)
	}
	if parts[2] != d.ScratchDatabase || !strings.HasPrefix(d.ScratchDatabase, h.db+"_drl_t") {
		t.Fatalf("scratch database %q is not named by cluster.DrillName", d.ScratchDatabase)
	}
	if d.ScratchState != drills.ScratchDropped || h.databaseExists(d.ScratchDatabase) {
		t.Fatalf("scratch database %s left behind (%s)", d.ScratchDatabase, d.ScratchState)
	}
	h.wantLive(liveBefore, "a drill changed the live database")
	proofs, err := drills.ProofsOf(context.Background(), h.pool, []string{h.ref}, 7*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p := proofs[h.ref]; p.ProvenAt == nil || !p.ProvenAt.Equal(snap.Time()) || p.Recovery() != d.Recovery() || p.Overdue {
		t.Fatalf("proof %+v does not show the drill %+v", p, d)
	}
	if len(h.openAlarms()) != 0 {
		t.Fatalf("a passed drill raised alarms: %+v", h.openAlarms())
	}
}

// checkDrillPhases checks that a passed drill recorded its phases: the
// top-level ones in order, each within the drill's duration, and the checks'
// parts.
func checkDrillPhases(t *testing.T, d drills.Drill) {
	t.Helper()
	t.Logf("drill %d took %d ms (recovery %d ms): phases %v", d.ID, *d.DurationMS, *d.RecoveryMS, d.Phases)
	var top []string
	var sum int64
	seen := map[string]bool{}
	for _, p := range d.Phases {
		seen[p.Name] = true
		if p.MS < 0 || p.MS > *d.DurationMS {
			t.Fatalf("phase %s took %d ms of a %d ms drill", p.Name, p.MS, *d.DurationMS)
		}
		switch p.Name {
		case drills.PhasePrepare, drills.PhaseCreate, drills.PhaseRestore, drills.PhaseSideEffects, drills.PhaseChecks, drills.PhaseDrop:
			top = append(top, p.Name)
			sum += p.MS
		}
	}
	want := []string{drills.PhasePrepare, drills.PhaseCreate, drills.PhaseRestore, drills.PhaseSideEffects, drills.PhaseChecks, drills.PhaseDrop}
	if strings.Join(top, ",") != strings.Join(want, ",") {
		t.Fatalf("phases %v, want %v in this order", top, want)
	}
	if sum > *d.DurationMS {
		t.Fatalf("the phases add up to %d ms, more than the drill's %d ms", sum, *d.DurationMS)
	}
	for _, n := range []string{drills.PhaseCounts, drills.PhaseAmcheck, drills.PhaseForeignKeys} {
		if !seen[n] {
			t.Fatalf("no %s phase among %v", n, d.Phases)
		}
	}
}

// The restore path pins the verified object version and its ETag, so data
// replaced in S3 after verification is refused before anything is restored
// (TestDrillOfAReplacedObjectFails). What is left for the row checks is the
// verified inventory no longer matching the data: here the catalog's COPY
// row count of one table is changed after verification, as a snapshot whose
// rows were lost between the count and the object would show.
func TestDrillOfATamperedSnapshotFailsAndAlarms(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	h.startRiver()
	snap := h.capture()
	tag, err := h.pool.Exec(context.Background(), `UPDATE snapshot_tables SET rows = rows + 1
		WHERE snapshot_id = $1 AND schema_name = 'auth' AND table_name = 'users'`, snap.ID)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v (%d rows)", err, tag.RowsAffected())
	}
	d := h.drillNow()
	if d.Outcome != drills.OutcomeFailed || !strings.Contains(d.Reason, "auth.users") || !strings.Contains(d.Reason, "rows") {
		t.Fatalf("drill of a tampered snapshot: %s: %q", d.Outcome, d.Reason)
	}
	if d.ScratchState != drills.ScratchDropped || h.databaseExists(d.ScratchDatabase) {
		t.Fatalf("a failed drill left %s (%s)", d.ScratchDatabase, d.ScratchState)
	}
	al := h.openAlarms()
	if len(al) != 1 || al[0].Condition != drills.CondDrillFailed || !strings.Contains(al[0].Detail, "auth.users") ||
		al[0].MailTo != opsAddress || al[0].DrillID == nil || *al[0].DrillID != d.ID {
		t.Fatalf("alarms after a failed drill: %+v", al)
	}
	if n := h.alarmMailJobs(); n != 1 {
		t.Fatalf("%d alarm mails queued, want 1", n)
	}
	// No relay in the test config: the mail is written and recorded as not
	// sent, with why.
	deadline := time.Now().Add(time.Minute)
	for {
		a, err := drills.AlarmGet(context.Background(), h.pool, al[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.MailStatus == "not_sent" {
			if !strings.Contains(a.MailError, "PORTAL_SMTP_RELAY") || !strings.Contains(string(a.Raw), "To: <"+opsAddress+">") ||
				!strings.Contains(string(a.Raw), "restore drill failed") {
				t.Fatalf("alarm mail: %q\n%s", a.MailError, a.Raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alarm mail still %s", a.MailStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A second failing drill keeps the one alarm open: no second mail.
	d2 := h.drillNow()
	if d2.Outcome != drills.OutcomeFailed || len(h.openAlarms()) != 1 || h.alarmMailJobs() != 1 {
		t.Fatalf("second failed drill: %s, %d alarms, %d mails", d2.Outcome, len(h.openAlarms()), h.alarmMailJobs())
	}
	if _, err := h.pool.Exec(context.Background(), `UPDATE snapshot_tables SET rows = rows - 1
		WHERE snapshot_id = $1 AND schema_name = 'auth' AND table_name = 'users'`, snap.ID); err != nil {
		t.Fatal(err)
	}
	d3 := h.drillNow()
	if d3.Outcome != drills.OutcomePassed || len(h.openAlarms()) != 0 {
		t.Fatalf("after the inventory is right again: drill %s (%s), open alarms %+v", d3.Outcome, d3.Reason, h.openAlarms())
	}
}

// The fault: the object is replaced in S3 after verification (one row fewer,
// a new ETag). The drill reads only the verified version and refuses it.
func TestDrillOfAReplacedObjectFails(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	h.startRiver()
	snap := h.capture()
	h.replaceObject(snap, func(dump string) string {
		i := strings.Index(dump, "COPY auth.users")
		j := strings.Index(dump[i:], "\n") + i + 1
		k := strings.Index(dump[j:], "\n") + j + 1
		return dump[:j] + dump[k:]
	})
	d := h.drillNow()
	if d.Outcome != drills.OutcomeFailed || d.ScratchState != drills.ScratchNone {
		t.Fatalf("drill of a replaced object: %s (%s), scratch %s", d.Outcome, d.Reason, d.ScratchState)
	}
	if !strings.Contains(d.Reason, "ETag") && !strings.Contains(d.Reason, "bytes in S3") && !strings.Contains(d.Reason, "changed") {
		t.Fatalf("reason does not say the object changed: %q", d.Reason)
	}
	if al := h.openAlarms(); len(al) != 1 || al[0].Condition != drills.CondDrillFailed {
		t.Fatalf("alarms: %+v", al)
	}
}

// A corrupt index in the restored copy: the table's expression index was
// built with an IMMUTABLE function that is then redefined in the copy (the
// real-world class of a mislabelled function or a changed collation), so
// heap tuples lack their index entries. amcheck's bt_index_check with
// heapallindexed finds it, and under PORTAL_DRILL_HEAP_CHECK=computed (the
// default) the expression index and the ICU-collated text index are the
// ones heap-checked, the integer primary key is not. (Flipping bytes of the
// index file is not an option on Postgres 15: the freshly built pages stay
// in shared buffers, and pg_buffercache_evict is Postgres 17's.)
func TestDrillCatchesACorruptIndexWithAmcheck(t *testing.T) {
	t.Parallel()
	d, all, heap := corruptIndexDrill(t, "")
	if d.Outcome != drills.OutcomeFailed || !strings.Contains(d.Reason, "drill_probe_key") || !strings.Contains(d.Reason, "amcheck") {
		t.Fatalf("drill of a copy with a corrupt index: %s: %q (notes %v)", d.Outcome, d.Reason, d.Notes)
	}
	if !strings.Contains(d.Reason, "heapallindexed, PORTAL_DRILL_HEAP_CHECK=computed") {
		t.Fatalf("the reason does not say the heap check under computed found it: %q", d.Reason)
	}
	if strings.Contains(d.Reason, "drill_probe_pkey") || strings.Contains(d.Reason, "drill_probe_label") {
		t.Fatalf("a sound index was reported too: %q", d.Reason)
	}
	if d.IndexesChecked == 0 {
		t.Fatal("the sound indexes were not counted as checked")
	}
	for name, want := range map[string]bool{"public.drill_probe_key": true, "public.drill_probe_label": true, "public.drill_probe_pkey": false} {
		if slices.Contains(heap, name) != want {
			t.Fatalf("%s heap-checked under computed: %v, want %v (heap-checked: %v)", name, !want, want, heap)
		}
	}
	want := fmt.Sprintf("heap check computed: %d of %d indexes", len(heap), len(all))
	if got := amcheckDetail(t, d); got != want {
		t.Fatalf("amcheck phase detail %q, want %q", got, want)
	}
	if len(heap) >= len(all) {
		t.Fatalf("computed heap-checks every index (%d of %d)", len(heap), len(all))
	}
}

// Under PORTAL_DRILL_HEAP_CHECK=none the same corrupt copy passes: the
// redefined function leaves the expression index's structure sound, and only
// the heap check finds the heap tuples it lacks. This is why computed is the
// default.
func TestDrillUnderHeapCheckNonePassesAnIndexOnARedefinedFunction(t *testing.T) {
	t.Parallel()
	d, all, _ := corruptIndexDrill(t, config.HeapCheckNone)
	if d.Outcome != drills.OutcomePassed {
		t.Fatalf("drill under none: %s: %q", d.Outcome, d.Reason)
	}
	if d.IndexesChecked != len(all) {
		t.Fatalf("%d indexes checked, want all %d (structure only)", d.IndexesChecked, len(all))
	}
	if got, want := amcheckDetail(t, d), fmt.Sprintf("heap check none: 0 of %d indexes", len(all)); got != want {
		t.Fatalf("amcheck phase detail %q, want %q", got, want)
	}
}

// corruptIndexDrill adds drill_probe to the project (an expression index on
// an IMMUTABLE function, a text index in an ICU collation, an integer
// primary key), redefines the function in the drill's copy once restored,
// and drills under heap-check mode. It returns the drill and, planned on the
// source, the indexes the drill checks and those mode heap-checks.
func corruptIndexDrill(t *testing.T, mode string) (d drills.Drill, all, heap []string) {
	t.Helper()
	h := newDrillHarness(t)
	h.onDB(h.db, func(ctx context.Context, conn *pgx.Conn) (err error) {
		for _, stmt := range []string{
			`CREATE FUNCTION public.drill_key(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2'`,
			`CREATE TABLE public.drill_probe (id integer PRIMARY KEY, v integer NOT NULL, label text COLLATE "en-x-icu" NOT NULL)`,
			`INSERT INTO public.drill_probe SELECT g, g, 'label ' || g FROM generate_series(1, 2000) g`,
			`CREATE INDEX drill_probe_key ON public.drill_probe (public.drill_key(v))`,
			`CREATE INDEX drill_probe_label ON public.drill_probe (label)`,
		} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		all, heap, err = jobs.DrillHeapPlan(ctx, conn, mode)
		return err
	})
	deps := h.deps
	deps.Config.Drills.HeapCheck = mode
	deps = h.onScratchApplied(deps, func(ctx context.Context, _ drills.Drill, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `CREATE OR REPLACE FUNCTION public.drill_key(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 3'`)
		return err
	})
	h.startRiverWith(deps)
	h.capture()
	return h.drillNow(), all, heap
}

// amcheckDetail is the detail of d's amcheck phase.
func amcheckDetail(t *testing.T, d drills.Drill) string {
	t.Helper()
	for _, p := range d.Phases {
		if p.Name == drills.PhaseAmcheck {
			return p.Detail
		}
	}
	t.Fatalf("no amcheck phase: %+v", d.Phases)
	return ""
}

// Which indexes get amcheck's heapallindexed per PORTAL_DRILL_HEAP_CHECK, on
// a real database of byte-order default collation: under computed the
// expression, partial, ICU-collated and range indexes (and a column in a
// libc locale); not the integer, default, "C", "POSIX" and ucs_basic ones,
// nor one whose non-C column is only INCLUDEd. Then the expression index's
// function is redefined: computed and all find the index, none passes it.
func TestDrillHeapCheckModesChooseTheIndexesWhoseKeysTheCopyComputes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testenv.Config(t)
	cl, err := cluster.New(cfg.ProjectsAdminURL)
	if err != nil {
		t.Fatal(err)
	}
	db := "hc_" + strings.ReplaceAll(randomRef(), "-", "_")
	admin, err := cl.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	// A libc locale other than C, as the cluster has it (initdb imports the
	// system's): the test needs one.
	var libc string
	err = admin.QueryRow(ctx, `SELECT collname FROM pg_collation WHERE collprovider = 'c' AND collcollate NOT IN ('C', 'POSIX')
		AND collencoding IN (-1, 6) ORDER BY collname LIMIT 1`).Scan(&libc)
	if err != nil {
		t.Fatalf("no libc locale other than C on the cluster: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db+" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	t.Cleanup(func() {
		if err := cl.DropIdle(context.Background(), db); err != nil {
			t.Error(err)
		}
	})
	conn, err := cl.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { conn.Close(ctx) }()
	for _, stmt := range []string{
		`CREATE SCHEMA ` + jobs.DrillAmcheckSchema,
		`CREATE EXTENSION amcheck WITH SCHEMA ` + jobs.DrillAmcheckSchema,
		`CREATE FUNCTION public.hc_key(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2'`,
		`CREATE TABLE public.t (id integer PRIMARY KEY, v integer NOT NULL, plain text NOT NULL, c text COLLATE "C", px text COLLATE "POSIX",
			ucs text COLLATE ucs_basic, icu text COLLATE "en-x-icu", loc text COLLATE ` + pgx.Identifier{libc}.Sanitize() + `, r int4range)`,
		`INSERT INTO public.t SELECT g, g, 'p' || g, 'c' || g, 'x' || g, 'u' || g, 'i' || g, 'l' || g, int4range(g, g + 1) FROM generate_series(1, 2000) g`,
		`CREATE INDEX t_plain ON public.t (plain)`,
		`CREATE INDEX t_c ON public.t (c)`,
		`CREATE INDEX t_px ON public.t (px)`,
		`CREATE INDEX t_ucs ON public.t (ucs)`,
		`CREATE INDEX t_c_v ON public.t (c, v) INCLUDE (icu)`,
		`CREATE INDEX t_icu ON public.t (icu)`,
		`CREATE INDEX t_loc ON public.t (loc)`,
		`CREATE INDEX t_range ON public.t (r)`,
		`CREATE INDEX t_key ON public.t (public.hc_key(v))`,
		`CREATE INDEX t_partial ON public.t (v) WHERE v > 10`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	every := []string{"public.t_c", "public.t_c_v", "public.t_icu", "public.t_key", "public.t_loc", "public.t_partial", "public.t_pkey",
		"public.t_plain", "public.t_px", "public.t_range", "public.t_ucs"}
	computed := []string{"public.t_icu", "public.t_key", "public.t_loc", "public.t_partial", "public.t_range"}
	want := map[string][]string{"": computed, config.HeapCheckComputed: computed, config.HeapCheckAll: every, config.HeapCheckNone: nil}
	for _, mode := range []string{"", config.HeapCheckComputed, config.HeapCheckAll, config.HeapCheckNone} {
		heap, bad, err := jobs.DrillIndexChecks(ctx, conn, mode)
		if err != nil {
			t.Fatalf("%q: %v", mode, err)
		}
		if !slices.Equal(heap, want[mode]) || len(bad) != 0 {
			t.Fatalf("mode %q: heap-checked %v, want %v; failures %v", mode, heap, want[mode], bad)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE OR REPLACE FUNCTION public.hc_key(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 3'`); err != nil {
		t.Fatal(err)
	}
	// A new session: this one's relcache keeps the index expression with the
	// old body inlined (a drill's checks connect after the restore).
	conn.Close(ctx)
	if conn, err = cl.Connect(ctx, db); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{config.HeapCheckComputed, config.HeapCheckAll, config.HeapCheckNone} {
		_, bad, err := jobs.DrillIndexChecks(ctx, conn, mode)
		if err != nil {
			t.Fatalf("%q: %v", mode, err)
		}
		caught := len(bad) == 1 && strings.Contains(bad[0], "public.t_key") && strings.Contains(bad[0], "heapallindexed")
		if caught != (mode != config.HeapCheckNone) || mode == config.HeapCheckNone && len(bad) != 0 {
			t.Fatalf("mode %q after the function changed: failures %v", mode, bad)
		}
	}
}

// A drill yields to a restore of its project started meanwhile: it stops,
// drops its copy and snoozes; the restore runs at once (no snooze waiting for
// a lock the drill holds: it holds none); the drill passes afterwards.
func TestDrillYieldsToARestoreOfTheProject(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	reached := make(chan int64, 1)
	var first atomic.Bool
	deps := h.deps
	deps.Drill.RetryAfter = 200 * time.Millisecond
	deps.Drill.WatchEvery = 50 * time.Millisecond
	deps.Drill.Hook = func(ctx context.Context, id int64, s jobs.Step) error {
		if s != jobs.StepApplied || !first.CompareAndSwap(false, true) {
			return nil
		}
		reached <- id
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Minute):
			return errors.New("the drill never yielded")
		}
	}
	h.startRiverWith(deps)
	snap := h.capture()
	if _, err := drills.DrillNow(context.Background(), h.river, h.ref); err != nil {
		t.Fatal(err)
	}
	var firstID int64
	select {
	case firstID = <-reached:
	case <-time.After(3 * time.Minute):
		t.Fatal("the drill never reached its checks")
	}
	tk := h.restore(snap, full, tickets.ModeNewProject, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore while a drill ran")
	var attempt int
	var snoozed bool
	if err := h.pool.QueryRow(context.Background(), `SELECT attempt, metadata ? 'snoozes' FROM river_job WHERE id = $1`, tk.JobID).Scan(&attempt, &snoozed); err != nil {
		t.Fatal(err)
	}
	if attempt != 1 || snoozed {
		t.Fatalf("the restore was held up: attempt %d, snoozed %v", attempt, snoozed)
	}
	// The drill yields on its own watch, which may record it a moment after
	// the restore has finished: wait for its record to end.
	y := h.waitDrillID(firstID)
	if y.Outcome != drills.OutcomeYielded || y.ScratchState != drills.ScratchDropped || h.databaseExists(y.ScratchDatabase) {
		t.Fatalf("the drill did not yield cleanly: %+v", y)
	}
	d := h.waitDrill(func(d drills.Drill) bool { return d.ID != firstID && d.Outcome != drills.OutcomeRunning })
	h.waitJobFinalized(d.JobID)
	if d.Outcome != drills.OutcomePassed {
		t.Fatalf("the drill after the restore: %s: %s", d.Outcome, d.Reason)
	}
	if len(h.openAlarms()) != 0 {
		t.Fatalf("yielding raised alarms: %+v", h.openAlarms())
	}
}

func TestDrillQueueAndMailQueue(t *testing.T) {
	t.Parallel()
	if drills.QueueMail != intake.QueueMail {
		t.Fatalf("alarm mails go to queue %q, the outbound mail queue is %q", drills.QueueMail, intake.QueueMail)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"PORTAL_S3_BUCKET": "b", "PORTAL_DRILL_CONCURRENCY": "3"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	q, ok := jobs.Queues(cfg)[drills.QueueDrill]
	if !ok || q.MaxWorkers != 3 {
		t.Fatalf("drill queue %+v (%v), want 3 workers", q, ok)
	}
	o := drills.DrillArgs{}.InsertOpts()
	if o.Queue != drills.QueueDrill || o.Priority != 4 {
		t.Fatalf("drill insert opts %+v: want the drill queue at River's lowest priority 4", o)
	}
}

// replaceObject puts an edited copy of the snapshot's dump at its key: a
// new object version with another ETag.
func (h *harness) replaceObject(snap snapshots.Snapshot, edit func(string) string) {
	h.t.Helper()
	ctx := context.Background()
	obj, err := h.deps.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &snap.Key})
	if err != nil {
		h.t.Fatal(err)
	}
	zr, err := gzip.NewReader(obj.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	obj.Body.Close()
	if err != nil {
		h.t.Fatal(err)
	}
	edited := edit(string(raw))
	if edited == string(raw) {
		h.t.Fatal("replaceObject: the edit changed nothing")
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(edited))
	_ = zw.Close()
	if _, err := h.deps.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &snap.Key, Body: bytes.NewReader(b.Bytes())}); err != nil {
		h.t.Fatal(err)
	}
}

// The fault: a worker killed mid-drill left its scratch database, recorded
// as made by a drill still "running". The next drill of the project drops it
// and records the old drill as failed.
func TestDrillCleansUpAfterAKilledDrill(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	h.startRiver()
	snap := h.capture()
	ctx := context.Background()
	dead, err := drills.DrillStart(ctx, h.pool, drills.NewDrill{ProjectRef: h.ref, SnapshotID: snap.ID, JobID: 999999, Cluster: "default"})
	if err != nil {
		t.Fatal(err)
	}
	left := h.db + "_drl_t" + itoa(dead.ID)
	if err := drills.DrillScratchPlan(ctx, h.pool, dead.ID, left); err != nil {
		t.Fatal(err)
	}
	if err := h.cl.Create(ctx, left); err != nil {
		t.Fatal(err)
	}
	if err := drills.DrillScratchSet(ctx, h.pool, dead.ID, drills.ScratchMade); err != nil {
		t.Fatal(err)
	}
	d := h.drillNow()
	if d.Outcome != drills.OutcomePassed {
		t.Fatalf("drill after a killed one: %s %s", d.Outcome, d.Reason)
	}
	if h.databaseExists(left) {
		t.Fatalf("the killed drill's scratch database %s is still there", left)
	}
	old, err := drills.DrillGet(ctx, h.pool, dead.ID)
	if err != nil || old.Outcome != drills.OutcomeFailed || old.ScratchState != drills.ScratchDropped || !strings.Contains(old.Reason, "worker stopped") {
		t.Fatalf("the killed drill's record: %+v %v", old, err)
	}
}

// The attack: a database already carries the name the drill would use, and
// is not recorded as this drill's (someone else's, or a live one). The drill
// refuses it and leaves it alone.
func TestDrillLeavesAForeignDatabaseOfItsNameAlone(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	h.startRiver()
	h.capture()
	ctx := context.Background()
	var next int64
	if err := h.pool.QueryRow(ctx, `SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END FROM drills_id_seq`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	foreign := h.db + "_drl_t" + itoa(next)
	if err := h.cl.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	h.onDB(foreign, execOn(`CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)`))
	d := h.drillNow()
	if d.ID != next || d.Outcome != drills.OutcomeFailed || !strings.Contains(d.Reason, "not this drill's") {
		t.Fatalf("drill %d (expected %d) over a foreign database: %s %q", d.ID, next, d.Outcome, d.Reason)
	}
	if !h.databaseExists(foreign) {
		t.Fatal("the foreign database was dropped")
	}
	if x := liveQuery[int](h, foreign, `SELECT x FROM precious`); x != 42 {
		t.Fatalf("the foreign database was changed: %d", x)
	}
}

// PORTAL_DRILL_CLUSTER: the drill restores on another cluster (a private
// Postgres here), as the project's owner role made there, and leaves the
// project's own cluster alone.
func TestDrillRunsOnTheDrillCluster(t *testing.T) {
	t.Parallel()
	pc := testenv.NewPrivateCluster(t)
	h := newHarnessWith(t, randomRef(), func(c *config.Config) {
		c.Clusters = map[string]string{cluster.Default: c.ProjectsAdminURL, "drills": pc.AdminURL}
		c.Drills.Cluster = "drills"
	})
	other, err := cluster.New(pc.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	var onOther, onProject atomic.Bool
	var owner atomic.Value
	deps := h.atDrillApplied(h.deps, func(ctx context.Context, d drills.Drill) error {
		ok, err := other.Exists(ctx, d.ScratchDatabase)
		onOther.Store(ok && d.Cluster == "drills")
		if err != nil {
			return err
		}
		ok, err = h.cl.Exists(ctx, d.ScratchDatabase)
		onProject.Store(ok)
		o, err2 := other.DatabaseOwner(ctx, d.ScratchDatabase)
		owner.Store(o)
		return errors.Join(err, err2)
	})
	h.startRiverWith(deps)
	h.capture()
	live := h.checksum(h.db)
	d := h.drillNow()
	if d.Outcome != drills.OutcomePassed || d.IndexesChecked == 0 {
		t.Fatalf("drill on the drill cluster: %s %s (indexes %d)", d.Outcome, d.Reason, d.IndexesChecked)
	}
	if !onOther.Load() || onProject.Load() {
		t.Fatalf("scratch database on the drill cluster %v, on the project's %v", onOther.Load(), onProject.Load())
	}
	liveOwner, err := h.cl.DatabaseOwner(context.Background(), h.db)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := owner.Load().(string); o != liveOwner {
		t.Fatalf("the copy on the drill cluster is owned by %q, the project's owner role is %q", o, liveOwner)
	}
	if ok, _ := other.Exists(context.Background(), d.ScratchDatabase); ok {
		t.Fatal("the scratch database was left on the drill cluster")
	}
	h.wantLive(live, "the drill changed the live database")
}

// workerMetric reads one unlabelled counter from the worker's /metrics.
func workerMetric(t *testing.T, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	jobs.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A drill's bytes count in portal_drill_bytes_total, a restore's in
// portal_restore_bytes_total, and neither in the other's. Not parallel: it
// reads process-wide counters that the restores and drills of the parallel
// tests add to, and a sequential test runs while those wait.
func TestDrillBytesCountApartFromRestoreBytes(t *testing.T) {
	h := newDrillHarness(t)
	h.startRiver()
	snap := h.capture()
	restore0, drill0 := workerMetric(t, "portal_restore_bytes_total"), workerMetric(t, "portal_drill_bytes_total")
	if d := h.drillNow(); d.Outcome != drills.OutcomePassed {
		t.Fatalf("drill %s: %s", d.Outcome, d.Reason)
	}
	restore1, drill1 := workerMetric(t, "portal_restore_bytes_total"), workerMetric(t, "portal_drill_bytes_total")
	if drill1-drill0 != float64(snap.Size) || restore1 != restore0 {
		t.Fatalf("a drill of %d bytes: drill bytes +%.0f, restore bytes +%.0f", snap.Size, drill1-drill0, restore1-restore0)
	}
	tk := h.restore(snap, full, tickets.ModeNewProject, tickets.Options{})
	wantState(t, tk, tickets.StateSucceeded, "restore")
	restore2, drill2 := workerMetric(t, "portal_restore_bytes_total"), workerMetric(t, "portal_drill_bytes_total")
	if restore2-restore1 != float64(snap.Size) || drill2 != drill1 {
		t.Fatalf("a restore of %d bytes: restore bytes +%.0f, drill bytes +%.0f", snap.Size, restore2-restore1, drill2-drill1)
	}
}

// drillLockHolder is the backend holding ref's drill lock on the portal
// database, 0 if none does.
func (h *harness) drillLockHolder(ctx context.Context) (int, error) {
	key := uint64(jobs.DrillLockKey(h.ref))
	var pid int
	err := h.pool.QueryRow(ctx, `SELECT coalesce((SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND classid::int8 = $1 AND objid::int8 = $2), 0)`, int64(key>>32), int64(key&0xffffffff)).Scan(&pid)
	return pid, err
}

// The fault: the portal session holding a running drill's lock is cut (its
// backend terminated, as a restart of a pooler or a network cut would). The
// drill stops (it can no longer show it is alive, and the rescue may hand it
// on), drops its copy and records why; the retry takes the lock again (held
// by a new session while it runs) and passes.
func TestDrillWhoseLockSessionIsCutRetriesUnderTheLock(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	var attempts atomic.Int32
	var cut atomic.Int64
	retryHeld := make(chan int, 1)
	deps := h.deps
	deps.Drill.WatchEvery = 50 * time.Millisecond
	deps.Drill.RetryAfter = 100 * time.Millisecond
	deps.Drill.Hook = func(ctx context.Context, id int64, s jobs.Step) error {
		if s != jobs.StepApplied {
			return nil
		}
		pid, err := h.drillLockHolder(ctx)
		if err != nil {
			return err
		}
		if attempts.Add(1) > 1 {
			retryHeld <- pid
			return nil
		}
		if pid == 0 {
			return errors.New("the first attempt runs without its drill lock")
		}
		cut.Store(int64(pid))
		var ok bool
		if err := h.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
			return fmt.Errorf("cut the drill lock's session %d: %v %v", pid, ok, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
			return errors.New("the drill went on after its lock session was cut")
		}
	}
	h.startRiverWith(deps)
	h.capture()
	jobID, err := drills.DrillNow(context.Background(), h.river, h.ref)
	if err != nil {
		t.Fatal(err)
	}
	d := h.waitDrill(func(d drills.Drill) bool {
		return d.Outcome == drills.OutcomePassed || d.Outcome == drills.OutcomeFailed
	})
	h.waitJobFinalized(jobID)
	if d.Outcome != drills.OutcomePassed || d.JobID != jobID {
		t.Fatalf("the retry: %s: %s (job %d, want %d)", d.Outcome, d.Reason, d.JobID, jobID)
	}
	select {
	case pid := <-retryHeld:
		if pid == 0 || int64(pid) == cut.Load() {
			t.Fatalf("the retry ran without the drill lock (holder %d, the cut session was %d)", pid, cut.Load())
		}
	default:
		t.Fatal("the retry never reached its checks")
	}
	list, err := drills.DrillListByProject(context.Background(), h.pool, h.ref, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("want 2 drill records (the cut one and its retry), got %d: %v", len(list), err)
	}
	first := list[1]
	if first.Outcome != drills.OutcomeYielded || !strings.Contains(first.Reason, "lock session") ||
		first.ScratchState != drills.ScratchDropped || h.databaseExists(first.ScratchDatabase) {
		t.Fatalf("the cut attempt's record: %+v", first)
	}
	if pid, err := h.drillLockHolder(context.Background()); err != nil || pid != 0 {
		t.Fatalf("the drill lock is still held after the drill (backend %d, %v)", pid, err)
	}
	if len(h.openAlarms()) != 0 {
		t.Fatalf("a cut lock session raised alarms: %+v", h.openAlarms())
	}
}

// The attack: a dump whose table names are built to break out of a query
// (quotes, a dot, a statement after them), and a table of the copy its owner
// cannot read. The counts of small tables run many to one query: the names
// are quoted as identifiers, the hostile tables are counted, and the table
// that cannot be counted fails the drill under its own name, not its
// neighbours' in the same query.
func TestDrillCountsHostileTableNamesAndNamesTheTableItCannotCount(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	ctx := context.Background()
	owner, err := h.cl.DatabaseOwner(ctx, h.db)
	if err != nil {
		t.Fatal(err)
	}
	role := pgx.Identifier{owner}.Sanitize()
	h.exec(`SET ROLE ` + role + `;
		CREATE TABLE public."x"")); DROP TABLE auth.users; --" (id integer);
		INSERT INTO public."x"")); DROP TABLE auth.users; --" SELECT generate_series(1, 3);
		CREATE TABLE public."a.b ""c"" (SELECT 1)" (id integer);
		INSERT INTO public."a.b ""c"" (SELECT 1)" SELECT generate_series(1, 2);
		CREATE TABLE public.locked_out (id integer);
		INSERT INTO public.locked_out SELECT generate_series(1, 5)`)
	// The restore does not carry a dump's grants and revokes of the owner's
	// own rights over: the copy's locked_out is made unreadable at a hook.
	deps := h.onScratchApplied(h.deps, func(ctx context.Context, _ drills.Drill, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `REVOKE SELECT ON public.locked_out FROM `+role)
		return err
	})
	h.startRiverWith(deps)
	snap := h.capture()
	withData, rows := h.tablesWithData(snap)
	d := h.drillNow()
	if d.Outcome != drills.OutcomeFailed || !strings.Contains(d.Reason, "public.locked_out could not be counted") ||
		!strings.Contains(d.Reason, "permission denied") {
		t.Fatalf("drill of a table its owner cannot read: %s: %q", d.Outcome, d.Reason)
	}
	if strings.Contains(d.Reason, "DROP TABLE") || strings.Contains(d.Reason, "a.b") || strings.Count(d.Reason, "could not be counted") != 1 {
		t.Fatalf("the tables counted with it were reported too: %q", d.Reason)
	}
	if d.TablesChecked != withData-1 || d.RowsChecked != rows-5 {
		t.Fatalf("checked %d tables with %d rows; want %d with %d (all but locked_out)", d.TablesChecked, d.RowsChecked, withData-1, rows-5)
	}
	if d.ScratchState != drills.ScratchDropped || h.databaseExists(d.ScratchDatabase) {
		t.Fatalf("scratch database %s left behind (%s)", d.ScratchDatabase, d.ScratchState)
	}
	if users := liveQuery[int64](h, h.db, `SELECT count(*) FROM auth.users`); users == 0 {
		t.Fatalf("auth.users of the live database: %d rows", users)
	}
}
