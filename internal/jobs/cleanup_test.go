package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
)

// newCleanupTicket is a working harness with a destructive ticket, and
// record, which records name as that ticket's kept copy, made, to be dropped
// after dropAfter.
func newCleanupTicket(t *testing.T) (*harness, tickets.Ticket, func(name string, dropAfter time.Time) tickets.DatabaseRecord) {
	t.Helper()
	h := newWorkingHarness(t)
	ctx := context.Background()
	tk, err := tickets.Create(ctx, h.pool, nil, h.operator, tickets.NewTicket{Source: tickets.SourcePortal,
		ProjectRef: h.ref, RequesterEmail: "c@example.com", Mode: tickets.ModeDestructive})
	if err != nil {
		t.Fatal(err)
	}
	record := func(name string, dropAfter time.Time) tickets.DatabaseRecord {
		t.Helper()
		rec, _, err := tickets.DatabaseRecordClaim(ctx, h.pool, tk.ID, name, "", tickets.PurposeKept)
		if err != nil {
			t.Fatal(err)
		}
		if err := tickets.DatabaseRecordSet(ctx, h.pool, rec.ID, tickets.RecordMade, "", &dropAfter); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	return h, tk, record
}

// TestCleanupDropsOnlyRecordedCopiesWhoseTimeIsUp: a cleanup job naming a
// database the ticket never recorded leaves it alone; the sweep drops a
// recorded kept copy whose time is up (and records it dropped), and keeps
// one whose time is not up.
func TestCleanupDropsOnlyRecordedCopiesWhoseTimeIsUp(t *testing.T) {
	t.Parallel()
	h, tk, record := newCleanupTicket(t)
	ctx := context.Background()
	mk := func(prefix string) string {
		name := h.db + "_" + testenv.Name(prefix)
		if err := h.cl.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	unrecorded, due, notDue := mk("u"), mk("d"), mk("n")
	dueRec := record(due, time.Now().Add(-time.Minute))
	record(notDue, time.Now().Add(time.Hour))

	run := func(args river.JobArgs) {
		t.Helper()
		res, err := h.river.Insert(ctx, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.waitJobFinalized(res.Job.ID)
	}
	run(jobs.CleanupArgs{TicketID: tk.ID, ProjectRef: h.ref, Database: unrecorded})
	run(jobs.CleanupArgs{TicketID: tk.ID, ProjectRef: h.ref, Database: h.db})
	run(jobs.CleanupSweepArgs{})

	for name, want := range map[string]bool{unrecorded: true, h.db: true, due: false, notDue: true} {
		if got := h.databaseExists(name); got != want {
			t.Errorf("database %s exists=%v, want %v", name, got, want)
		}
	}
	recs, err := tickets.DatabaseRecordsByTicket(ctx, h.pool, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.ID == dueRec.ID && (r.State != tickets.RecordDropped || r.DroppedAt == nil) {
			t.Fatalf("the swept copy is not recorded dropped: %+v", r)
		}
	}
}

// TestCleanupRefusesARecordNamingTheLiveDatabase (attack): a database
// record that claims the project's live database as a kept copy whose time
// is up (a forged or corrupted row) is refused by the cleanup job and by the
// sweep: the job is cancelled naming the live database, and live stays.
func TestCleanupRefusesARecordNamingTheLiveDatabase(t *testing.T) {
	t.Parallel()
	h, tk, record := newCleanupTicket(t)
	ctx := context.Background()
	record(h.db, time.Now().Add(-time.Minute))
	res, err := h.river.Insert(ctx, jobs.CleanupArgs{TicketID: tk.ID, ProjectRef: h.ref, Database: h.db}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.waitJobFinalized(res.Job.ID)
	var state, errs string
	if err := h.pool.QueryRow(ctx, `SELECT state, coalesce(errors::text, '') FROM river_job WHERE id = $1`, res.Job.ID).Scan(&state, &errs); err != nil {
		t.Fatal(err)
	}
	if want := "refusing to drop " + h.db + ": it is project " + h.ref + "'s live database"; state != "cancelled" || !strings.Contains(errs, want) {
		t.Fatalf("cleanup of the live database: job %s, errors %s; want cancelled with %q", state, errs, want)
	}
	sweep, err := h.river.Insert(ctx, jobs.CleanupSweepArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.waitJobFinalized(sweep.Job.ID)
	if !h.databaseExists(h.db) {
		t.Fatalf("the live database %s was dropped on a record that called it a kept copy", h.db)
	}
}
