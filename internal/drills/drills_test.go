package drills_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/dbx"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/testenv"
)

const week = 7 * 24 * time.Hour

func TestScheduleSpreadsProjectsOverTheWeek(t *testing.T) {
	t.Parallel()
	perDay := make([]int, 7)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 7000; i++ {
		ref := fmt.Sprintf("proj-%05d", i)
		off := drills.Offset(ref, week)
		if off < 0 || off >= week || off != drills.Offset(ref, week) {
			t.Fatalf("offset of %s: %s", ref, off)
		}
		perDay[int(off/(24*time.Hour))]++
		slot := drills.LastSlot(ref, week, now)
		if slot.After(now) || now.Sub(slot) >= week || time.Duration(slot.UnixNano()%int64(week)) != off {
			t.Fatalf("last slot of %s at %s: %s (offset %s)", ref, now, slot, off)
		}
	}
	for d, n := range perDay {
		if n < 800 || n > 1200 {
			t.Fatalf("day %d of the week has %d of 7000 drills: not spread (%v)", d, n, perDay)
		}
	}
}

func TestIsDue(t *testing.T) {
	t.Parallel()
	ref := "proj-due"
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	slot := drills.LastSlot(ref, week, now)
	ago := func(d time.Duration) *time.Time { t := slot.Add(-d); return &t }
	after := slot.Add(time.Minute)
	for _, tc := range []struct {
		name string
		last *time.Time
		now  time.Time
		want bool
	}{
		{"drilled before its slot", ago(time.Hour), now, true},
		{"drilled since its slot", &after, now, false},
		{"drilled long ago (missed while no worker ran)", ago(3 * week), now, true},
		{"never drilled, at its slot", nil, slot.Add(time.Minute), true},
		{"never drilled, days after its slot", nil, slot.Add(3 * 24 * time.Hour), false},
	} {
		if got := drills.IsDue(ref, week, tc.last, tc.now); got != tc.want {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSnapshotFindings(t *testing.T) {
	t.Parallel()
	now := time.Now()
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	id := int64(7)
	base := drills.ProjectHealth{Ref: "p", CreatedAt: now.Add(-week), NewestID: &id, NewestKey: "k", NewestAt: at(time.Hour),
		NewestStatus: "verified", SizedID: &id, SizedKey: "k", Size: 1000, EarlierSz: []int64{900, 1000, 1100, 1000, 1000, 950, 1050}}
	for _, tc := range []struct {
		name string
		edit func(*drills.ProjectHealth)
		want []drills.Condition
	}{
		{"healthy", func(*drills.ProjectHealth) {}, nil},
		{"36 hours old", func(h *drills.ProjectHealth) { h.NewestAt = at(37 * time.Hour) }, []drills.Condition{drills.CondNoSnapshot}},
		{"no snapshot, new project", func(h *drills.ProjectHealth) { h.NewestAt, h.NewestID, h.SizedID, h.CreatedAt = nil, nil, nil, now }, nil},
		{"no snapshot, old project", func(h *drills.ProjectHealth) { h.NewestAt, h.NewestID, h.SizedID = nil, nil, nil }, []drills.Condition{drills.CondNoSnapshot}},
		{"corrupt", func(h *drills.ProjectHealth) { h.NewestStatus, h.NewestReason = "corrupt", "bad gzip" }, []drills.Condition{drills.CondSnapshotCorrupt}},
		{"half the median", func(h *drills.ProjectHealth) { h.Size = 499 }, []drills.Condition{drills.CondSizeAnomaly}},
		{"just over half", func(h *drills.ProjectHealth) { h.Size = 501 }, nil},
		{"three times the median", func(h *drills.ProjectHealth) { h.Size = 3001 }, []drills.Condition{drills.CondSizeAnomaly}},
		{"too little history", func(h *drills.ProjectHealth) { h.Size, h.EarlierSz = 10, []int64{1000, 1000} }, nil},
	} {
		h := base
		tc.edit(&h)
		var got []drills.Condition
		for _, f := range drills.SnapshotFindings(h, now) {
			got = append(got, f.Condition)
			if f.Detail == "" {
				t.Errorf("%s: a finding without detail", tc.name)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDrillFindings(t *testing.T) {
	t.Parallel()
	ms := func(n int64) *int64 { return &n }
	earlier := []int64{1000, 1100, 900, 1000, 1200}
	for _, tc := range []struct {
		name    string
		d       drills.Drill
		earlier []int64
		want    drills.Condition
	}{
		{"failed", drills.Drill{Outcome: drills.OutcomeFailed, Reason: "rows differ"}, earlier, drills.CondDrillFailed},
		{"passed, usual time", drills.Drill{Outcome: drills.OutcomePassed, RecoveryMS: ms(1900)}, earlier, ""},
		{"passed, over twice the median", drills.Drill{Outcome: drills.OutcomePassed, RecoveryMS: ms(2001)}, earlier, drills.CondSlowRecovery},
		{"passed, no history", drills.Drill{Outcome: drills.OutcomePassed, RecoveryMS: ms(99999)}, earlier[:2], ""},
		{"yielded", drills.Drill{Outcome: drills.OutcomeYielded}, earlier, ""},
	} {
		f := drills.DrillFindings(tc.d, tc.earlier)
		var got drills.Condition
		if len(f) == 1 {
			got = f[0].Condition
		}
		if got != tc.want || len(f) > 1 {
			t.Errorf("%s: %v, want %q", tc.name, f, tc.want)
		}
		if got == drills.CondDrillFailed && !strings.Contains(f[0].Detail, "rows differ") {
			t.Errorf("the failure's reason is not in the alarm: %q", f[0].Detail)
		}
	}
}

// The slow-recovery alarm from recorded drills: the median of the five
// drills before; it fires once while slow drills go on and clears after.
// projectPool is a fresh portal database with project ref in it.
func projectPool(t *testing.T, ref string) *pgxpool.Pool {
	t.Helper()
	pool := testenv.PortalPool(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO projects (ref) VALUES ($1)`, ref); err != nil {
		t.Fatal(err)
	}
	return pool
}

// TestDrillGet reads a drill back by its id; a missing id is ErrNotFound,
// saying which drill, and of dbx's not-found kind (what the web error
// handler maps to 404).
func TestDrillGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := projectPool(t, "proj-get")
	d, err := drills.DrillStart(ctx, pool, drills.NewDrill{ProjectRef: "proj-get"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := drills.DrillGet(ctx, pool, d.ID); err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("DrillGet(%d) = %+v, %v; want %+v", d.ID, got, err, d)
	}
	if _, err := drills.DrillGet(ctx, pool, d.ID+1000); !errors.Is(err, drills.ErrNotFound) || !errors.Is(err, dbx.ErrNotFound) || err.Error() != fmt.Sprintf("drill %d: not found", d.ID+1000) {
		t.Fatalf("DrillGet of a missing drill: %v", err)
	}
}

func TestSlowRecoveryAlarmFiresOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := projectPool(t, "proj-slow")
	drill := func(ms int) drills.Drill {
		d, err := drills.DrillStart(ctx, pool, drills.NewDrill{ProjectRef: "proj-slow"})
		if err != nil {
			t.Fatal(err)
		}
		d, err = drills.DrillFinish(ctx, pool, d.ID, drills.Result{Outcome: drills.OutcomePassed, Recovery: time.Duration(ms) * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := drills.Alarms{DB: pool}
	evaluate := func(d drills.Drill) int {
		earlier, err := drills.RecoveriesBefore(ctx, pool, d)
		if err != nil {
			t.Fatal(err)
		}
		fired, err := a.Apply(ctx, d.ProjectRef, drills.DrillConditions, drills.DrillFindings(d, earlier), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return len(fired)
	}
	for _, ms := range []int{1000, 1200, 800, 1000, 1100, 900} {
		if n := evaluate(drill(ms)); n != 0 {
			t.Fatalf("a usual drill (%d ms) fired", ms)
		}
	}
	if n := evaluate(drill(2500)); n != 1 {
		t.Fatalf("a drill at 2.5x the median fired %d alarms", n)
	}
	if n := evaluate(drill(2600)); n != 0 {
		t.Fatalf("the next slow drill fired again (%d)", n)
	}
	open, err := drills.AlarmsOpen(ctx, pool, "proj-slow", 10)
	if err != nil || len(open) != 1 || open[0].Condition != drills.CondSlowRecovery || open[0].MailStatus != "none" {
		t.Fatalf("open alarms: %+v %v", open, err)
	}
	if got, err := drills.AlarmGet(ctx, pool, open[0].ID); err != nil || !reflect.DeepEqual(got, open[0]) {
		t.Fatalf("AlarmGet(%d) = %+v, %v; want %+v", open[0].ID, got, err, open[0])
	}
	if counts, err := drills.AlarmsOpenCount(ctx, pool); err != nil || len(counts) != 1 || counts[drills.CondSlowRecovery] != 1 {
		t.Fatalf("open alarms by condition: %v, %v", counts, err)
	}
	if _, err := drills.AlarmGet(ctx, pool, -1); !errors.Is(err, drills.ErrNotFound) || err.Error() != "alarm -1: not found" {
		t.Fatalf("AlarmGet of a missing alarm: %v", err)
	}
	evaluate(drill(1000)) // the median is now 1100: 1000 is usual
	if open, _ := drills.AlarmsOpen(ctx, pool, "proj-slow", 10); len(open) != 0 {
		t.Fatalf("a usual drill did not clear the alarm: %+v", open)
	}
}
