package drills

import (
	"context"
	"errors"
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
		if _, err := tx.Exec(ctx, `UPDATE health_alarms SET cleared_at = $3
			WHERE project_ref = $1 AND condition = ANY($2) AND cleared_at IS NULL`, ref, clear, now); err != nil {
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
	rows, err := tx.Query(ctx, `INSERT INTO health_alarms (project_ref, condition, detail, drill_id, snapshot_id, raised_at, last_seen)
		VALUES ($1, $2, $3, nullif($4, 0), nullif($5, 0), $6, $6)
		ON CONFLICT (project_ref, condition) WHERE cleared_at IS NULL DO UPDATE SET last_seen = EXCLUDED.last_seen
		RETURNING `+alarmCols+`, xmax = 0`, ref, f.Condition, detail, f.DrillID, f.SnapshotID, now)
	if err != nil {
		return Alarm{}, false, fmt.Errorf("raise %s alarm of %s: %w", f.Condition, ref, err)
	}
	var inserted bool
	al, err := pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (Alarm, error) {
		var al Alarm
		err := r.Scan(&al.ID, &al.ProjectRef, &al.Condition, &al.Detail, &al.DrillID, &al.SnapshotID, &al.RaisedAt, &al.LastSeen,
			&al.ClearedAt, &al.MailStatus, &al.MailTo, &al.MailError, &al.MessageID, &al.Raw, &inserted)
		return al, err
	})
	if err != nil || !inserted {
		return al, false, err
	}
	if a.Ops == "" {
		return al, true, nil
	}
	var mailedRecently bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM health_alarms WHERE project_ref = $1 AND condition = $2
		AND id <> $3 AND mail_status IN ('pending', 'sent') AND raised_at > $4)`, ref, f.Condition, al.ID, now.Add(-mailAtMostEvery)).Scan(&mailedRecently); err != nil {
		return Alarm{}, false, err
	}
	if mailedRecently {
		return al, true, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE health_alarms SET mail_status = 'pending', mail_to = $2 WHERE id = $1`, al.ID, a.Ops); err != nil {
		return Alarm{}, false, err
	}
	al.MailStatus, al.MailTo = "pending", a.Ops
	if _, err := a.Jobs.InsertTx(ctx, tx, AlarmMailArgs{AlarmID: al.ID}, nil); err != nil {
		return Alarm{}, false, fmt.Errorf("queue the mail of alarm %d: %w", al.ID, err)
	}
	return al, true, nil
}

// AlarmGet returns alarm id.
func AlarmGet(ctx context.Context, db DB, id int64) (Alarm, error) {
	rows, err := db.Query(ctx, `SELECT `+alarmCols+` FROM health_alarms WHERE id = $1`, id)
	if err != nil {
		return Alarm{}, err
	}
	al, err := pgx.CollectExactlyOneRow(rows, scanAlarm)
	if errors.Is(err, pgx.ErrNoRows) {
		return Alarm{}, fmt.Errorf("alarm %d: %w", id, ErrNotFound)
	}
	return al, err
}

// AlarmsOpen returns the open alarms, newest first, of every project (ref
// empty) or of one.
func AlarmsOpen(ctx context.Context, db DB, ref string, limit int) ([]Alarm, error) {
	rows, err := db.Query(ctx, `SELECT `+alarmCols+` FROM health_alarms WHERE cleared_at IS NULL AND ($1 = '' OR project_ref = $1)
		ORDER BY raised_at DESC, id DESC LIMIT $2`, ref, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanAlarm)
}

// AlarmsOpenRefs is the set of projects with an open alarm.
func AlarmsOpenRefs(ctx context.Context, db DB) (map[string]bool, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT project_ref FROM health_alarms WHERE cleared_at IS NULL`)
	if err != nil {
		return nil, err
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := make(map[string]bool, len(refs))
	for _, r := range refs {
		out[r] = true
	}
	return out, err
}

// AlarmsOpenCount counts the open alarms by condition.
func AlarmsOpenCount(ctx context.Context, db DB) (map[Condition]int, error) {
	rows, err := db.Query(ctx, `SELECT condition, count(*) FROM health_alarms WHERE cleared_at IS NULL GROUP BY condition`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[Condition]int{}
	for rows.Next() {
		var c Condition
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		out[c] = n
	}
	return out, rows.Err()
}

// AlarmMailWritten stores the composed mail of an alarm once, so a retry
// sends the very same message; it returns the stored one.
func AlarmMailWritten(ctx context.Context, db DB, id int64, messageID string, raw []byte) (Alarm, error) {
	if _, err := db.Exec(ctx, `UPDATE health_alarms SET message_id = $2, raw = $3 WHERE id = $1 AND raw IS NULL`, id, messageID, raw); err != nil {
		return Alarm{}, err
	}
	return AlarmGet(ctx, db, id)
}

// AlarmMailDone records the mail's end: sent, or not_sent with why.
func AlarmMailDone(ctx context.Context, db DB, id int64, status, reason string) error {
	_, err := db.Exec(ctx, `UPDATE health_alarms SET mail_status = $2, mail_error = $3,
		mailed_at = CASE WHEN $2 = 'sent' THEN now() END WHERE id = $1`, id, status, reason)
	return err
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

// HealthOf reads the health of every project (refs nil) or of refs.
func HealthOf(ctx context.Context, db DB, refs []string) ([]ProjectHealth, error) {
	rows, err := db.Query(ctx, `
		SELECT p.ref, p.created_at, n.id, coalesce(n.key, ''), coalesce(n.taken_at, n.last_modified, n.first_seen), coalesce(n.status, ''),
		       coalesce(n.reason, ''), a.id, coalesce(a.key, ''), coalesce(a.size, 0),
		       coalesce((SELECT array_agg(e.size) FROM (SELECT size FROM snapshots s
		           WHERE s.project_ref = p.ref AND s.kind = 'automatic' AND s.deleted_at IS NULL AND s.id <> a.id
		             AND coalesce(s.taken_at, s.last_modified) < coalesce(a.taken_at, a.last_modified)
		           ORDER BY coalesce(s.taken_at, s.last_modified) DESC LIMIT $2) e), '{}')
		FROM projects p
		LEFT JOIN LATERAL (SELECT * FROM snapshots s WHERE s.project_ref = p.ref AND s.deleted_at IS NULL
		    ORDER BY coalesce(taken_at, last_modified) DESC NULLS LAST, key DESC LIMIT 1) n ON true
		LEFT JOIN LATERAL (SELECT * FROM snapshots s WHERE s.project_ref = p.ref AND s.deleted_at IS NULL AND s.kind = 'automatic'
		    ORDER BY coalesce(taken_at, last_modified) DESC NULLS LAST, key DESC LIMIT 1) a ON true
		WHERE ($1::text[] IS NULL OR p.ref = ANY($1))
		ORDER BY p.ref`, refs, SizeWindow)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProjectHealth, error) {
		var h ProjectHealth
		err := r.Scan(&h.Ref, &h.CreatedAt, &h.NewestID, &h.NewestKey, &h.NewestAt, &h.NewestStatus, &h.NewestReason,
			&h.SizedID, &h.SizedKey, &h.Size, &h.EarlierSz)
		return h, err
	})
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

// RecoveriesBefore returns the recovery times (ms) of up to RecoveryWindow
// passed drills of d's project before d.
func RecoveriesBefore(ctx context.Context, db DB, d Drill) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT recovery_ms FROM drills WHERE project_ref = $1 AND id <> $2 AND outcome = 'passed'
		AND recovery_ms IS NOT NULL AND started_at <= $3 ORDER BY started_at DESC LIMIT $4`, d.ProjectRef, d.ID, d.StartedAt, RecoveryWindow)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
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
