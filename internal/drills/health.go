package drills

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Condition is a kind of snapshot health alarm.
type Condition string

const (
	CondDrillFailed     Condition = "drill_failed"     // the newest drill failed (with the reason)
	CondSlowRecovery    Condition = "slow_recovery"    // recovery time over twice the median of the last 5 drills
	CondNoSnapshot      Condition = "no_snapshot"      // no snapshot for 36 hours
	CondSnapshotCorrupt Condition = "snapshot_corrupt" // the newest snapshot is corrupt
	CondSizeAnomaly     Condition = "size_anomaly"     // newest snapshot < half or > 3x the median of the last 7
)

// Conditions lists every condition, for metrics and pages.
var Conditions = []Condition{CondDrillFailed, CondSlowRecovery, CondNoSnapshot, CondSnapshotCorrupt, CondSizeAnomaly}

// Label is the condition for people.
func (c Condition) Label() string {
	switch c {
	case CondDrillFailed:
		return "restore drill failed"
	case CondSlowRecovery:
		return "recovery time doubled"
	case CondNoSnapshot:
		return "no snapshot for 36 hours"
	case CondSnapshotCorrupt:
		return "newest snapshot corrupt"
	case CondSizeAnomaly:
		return "newest snapshot size anomaly"
	}
	return string(c)
}

// Thresholds of the alarms.
const (
	NoSnapshotAfter   = 36 * time.Hour
	SlowRecoveryOver  = 2.0 // times the median recovery time of the last drills
	RecoveryWindow    = 5   // drills the median recovery time is taken over
	SizeWindow        = 7   // snapshots the median size is taken over
	SizeTooSmall      = 0.5 // of the median size
	SizeTooLarge      = 3.0
	minHistory        = 3 // fewer earlier drills or snapshots: no median to compare with
	mailAtMostEvery   = 24 * time.Hour
	alarmDetailMaxLen = 2000
)

// Alarm is one episode of a condition of a project.
type Alarm struct {
	ID         int64      `json:"id"`
	ProjectRef string     `json:"project_ref"`
	Condition  Condition  `json:"condition"`
	Detail     string     `json:"detail"`
	DrillID    *int64     `json:"drill_id,omitempty"`
	SnapshotID *int64     `json:"snapshot_id,omitempty"`
	RaisedAt   time.Time  `json:"raised_at"`
	LastSeen   time.Time  `json:"last_seen"`
	ClearedAt  *time.Time `json:"cleared_at,omitempty"`
	MailStatus string     `json:"mail_status"`
	MailTo     string     `json:"mail_to,omitempty"`
	MailError  string     `json:"mail_error,omitempty"`
	MessageID  string     `json:"message_id,omitempty"`
	Raw        []byte     `json:"-"`
}

const alarmCols = `id, project_ref, condition, detail, drill_id, snapshot_id, raised_at, last_seen, cleared_at,
	mail_status, mail_to, mail_error, message_id, raw`

func scanAlarm(r pgx.CollectableRow) (Alarm, error) {
	var a Alarm
	err := r.Scan(&a.ID, &a.ProjectRef, &a.Condition, &a.Detail, &a.DrillID, &a.SnapshotID, &a.RaisedAt, &a.LastSeen,
		&a.ClearedAt, &a.MailStatus, &a.MailTo, &a.MailError, &a.MessageID, &a.Raw)
	return a, err
}

// Finding is a condition found to hold for a project.
type Finding struct {
	Condition  Condition
	Detail     string
	DrillID    int64
	SnapshotID int64
}

// TxDB can begin a transaction (a pool).
type TxDB interface {
	DB
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Alarms raises and clears alarms: ops is PORTAL_OPS_ADDRESS (empty: not
// mailed), jobs inserts the mail jobs in the alarm's transaction.
type Alarms struct {
	DB   TxDB
	Jobs JobInserter
	Ops  string
}

// Apply makes the open alarms of ref for the conditions checked match
// found: a finding without an open alarm fires one (returned); one with an
// open alarm only refreshes it; an open alarm of a checked condition not
// found is cleared. Conditions not in checked are left alone.
func (a Alarms) Apply(ctx context.Context, ref string, checked []Condition, found []Finding, now time.Time) ([]Alarm, error) {
	tx, err := a.DB.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var fired []Alarm
	holds := map[Condition]bool{}
	for _, f := range found {
		holds[f.Condition] = true
		al, ok, err := a.raise(ctx, tx, ref, f, now)
		if err != nil {
			return nil, err
		}
		if ok {
			fired = append(fired, al)
		}
	}
	var clear []string
	for _, c := range checked {
		if !holds[c] {
			clear = append(clear, string(c))
		}
	}
	if len(clear) > 0 {
		if err := alarmsClear(ctx, tx, ref, clear, now); err != nil {
			return nil, err
		}
	}
	return fired, tx.Commit(ctx)
}

// raise inserts the open alarm of f unless one is open already (then it
// refreshes last_seen and reports false). A new alarm is mailed unless one
// of the same project and condition was mailed within a day.
func (a Alarms) raise(ctx context.Context, tx pgx.Tx, ref string, f Finding, now time.Time) (Alarm, bool, error) {
	detail := f.Detail
	if len(detail) > alarmDetailMaxLen {
		detail = detail[:alarmDetailMaxLen] + "…"
	}
	al, inserted, err := alarmUpsert(ctx, tx, ref, f.Condition, detail, f.DrillID, f.SnapshotID, now)
	if err != nil {
		return Alarm{}, false, fmt.Errorf("raise %s alarm of %s: %w", f.Condition, ref, err)
	}
	if !inserted {
		return al, false, nil
	}
	if a.Ops == "" {
		return al, true, nil
	}
	mailedRecently, err := alarmMailedSince(ctx, tx, ref, f.Condition, al.ID, now.Add(-mailAtMostEvery))
	if err != nil {
		return Alarm{}, false, err
	}
	if mailedRecently {
		return al, true, nil
	}
	if err := alarmMailPending(ctx, tx, al.ID, a.Ops); err != nil {
		return Alarm{}, false, err
	}
	al.MailStatus, al.MailTo = "pending", a.Ops
	if _, err := a.Jobs.InsertTx(ctx, tx, AlarmMailArgs{AlarmID: al.ID}, nil); err != nil {
		return Alarm{}, false, fmt.Errorf("queue the mail of alarm %d: %w", al.ID, err)
	}
	return al, true, nil
}

// SnapshotConditions are the conditions SnapshotFindings checks.
var SnapshotConditions = []Condition{CondNoSnapshot, CondSnapshotCorrupt, CondSizeAnomaly}

// DrillConditions are the conditions DrillFindings checks.
var DrillConditions = []Condition{CondDrillFailed, CondSlowRecovery}

// ProjectHealth is what the snapshot conditions are read from.
type ProjectHealth struct {
	Ref       string
	CreatedAt time.Time
	// The newest snapshot still in S3 (any kind, any status).
	NewestID     *int64
	NewestKey    string
	NewestAt     *time.Time
	NewestStatus string
	NewestReason string
	// The newest automatic snapshot's size and the sizes of up to SizeWindow
	// automatic ones before it (safety and manual snapshots of some tables
	// would skew the median).
	SizedID   *int64
	SizedKey  string
	Size      int64
	EarlierSz []int64
}

// SnapshotFindings are the snapshot conditions that hold for h at now.
func SnapshotFindings(h ProjectHealth, now time.Time) []Finding {
	var out []Finding
	switch {
	case h.NewestAt == nil && now.Sub(h.CreatedAt) > NoSnapshotAfter:
		out = append(out, Finding{Condition: CondNoSnapshot, Detail: fmt.Sprintf("project %s has no snapshot at all, and has been known for %s", h.Ref, round(now.Sub(h.CreatedAt)))})
	case h.NewestAt != nil && now.Sub(*h.NewestAt) > NoSnapshotAfter:
		out = append(out, Finding{Condition: CondNoSnapshot, SnapshotID: deref(h.NewestID),
			Detail: fmt.Sprintf("the newest snapshot of %s (%s) is %s old", h.Ref, h.NewestKey, round(now.Sub(*h.NewestAt)))})
	}
	if h.NewestStatus == "corrupt" {
		out = append(out, Finding{Condition: CondSnapshotCorrupt, SnapshotID: deref(h.NewestID),
			Detail: fmt.Sprintf("the newest snapshot of %s (%s) is corrupt: %s", h.Ref, h.NewestKey, h.NewestReason)})
	}
	if h.SizedID != nil && len(h.EarlierSz) >= minHistory {
		med := median(h.EarlierSz)
		if med > 0 && (float64(h.Size) < SizeTooSmall*med || float64(h.Size) > SizeTooLarge*med) {
			out = append(out, Finding{Condition: CondSizeAnomaly, SnapshotID: *h.SizedID,
				Detail: fmt.Sprintf("the newest snapshot of %s (%s) is %d bytes, %.2fx the median %d bytes of the %d before it (alarm below %.1fx or above %.0fx)",
					h.Ref, h.SizedKey, h.Size, float64(h.Size)/med, int64(med), len(h.EarlierSz), SizeTooSmall, SizeTooLarge)})
		}
	}
	return out
}

// DrillFindings are the drill conditions that hold after drill d, given the
// recovery times (ms) of up to RecoveryWindow passed drills before it.
func DrillFindings(d Drill, earlier []int64) []Finding {
	switch d.Outcome {
	case OutcomeFailed:
		return []Finding{{Condition: CondDrillFailed, DrillID: d.ID, SnapshotID: derefP(d.SnapshotID),
			Detail: fmt.Sprintf("restore drill %d of %s failed: %s", d.ID, d.ProjectRef, d.Reason)}}
	case OutcomePassed:
		if d.RecoveryMS == nil || len(earlier) < minHistory {
			return nil
		}
		med := median(earlier)
		if float64(*d.RecoveryMS) > SlowRecoveryOver*med {
			return []Finding{{Condition: CondSlowRecovery, DrillID: d.ID, SnapshotID: derefP(d.SnapshotID),
				Detail: fmt.Sprintf("restore drill %d of %s took %s to recover, over %.0fx the median %s of the %d drills before it",
					d.ID, d.ProjectRef, d.Recovery().Round(time.Millisecond), SlowRecoveryOver,
					(time.Duration(med) * time.Millisecond).Round(time.Millisecond), len(earlier))}}
		}
	}
	return nil
}

func median(xs []int64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return (float64(s[n/2-1]) + float64(s[n/2])) / 2
}

func round(d time.Duration) time.Duration { return d.Round(time.Minute) }

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefP(p *int64) int64 { return deref(p) }
