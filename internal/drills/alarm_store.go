package drills

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// AlarmGet returns alarm id.
func AlarmGet(ctx context.Context, db DB, id int64) (Alarm, error) {
	return getByID(ctx, db, `SELECT `+alarmCols+` FROM health_alarms WHERE id = $1`, id, scanAlarm, "alarm")
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
	return dbx.CollectMap(rows, func(r pgx.CollectableRow) (c Condition, n int, err error) {
		err = r.Scan(&c, &n)
		return c, n, err
	})
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

// alarmsClear clears ref's open alarms of conditions at now.
func alarmsClear(ctx context.Context, db DB, ref string, conditions []string, now time.Time) error {
	_, err := db.Exec(ctx, `UPDATE health_alarms SET cleared_at = $3
		WHERE project_ref = $1 AND condition = ANY($2) AND cleared_at IS NULL`, ref, conditions, now)
	return err
}

// alarmUpsert inserts ref's open alarm of condition, or refreshes the
// last_seen of the one open already; inserted says which.
func alarmUpsert(ctx context.Context, db DB, ref string, c Condition, detail string, drillID, snapshotID int64, now time.Time) (al Alarm, inserted bool, err error) {
	rows, err := db.Query(ctx, `INSERT INTO health_alarms (project_ref, condition, detail, drill_id, snapshot_id, raised_at, last_seen)
		VALUES ($1, $2, $3, nullif($4, 0), nullif($5, 0), $6, $6)
		ON CONFLICT (project_ref, condition) WHERE cleared_at IS NULL DO UPDATE SET last_seen = EXCLUDED.last_seen
		RETURNING `+alarmCols+`, xmax = 0`, ref, c, detail, drillID, snapshotID, now)
	if err != nil {
		return Alarm{}, false, err
	}
	al, err = pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (Alarm, error) {
		var al Alarm
		err := r.Scan(&al.ID, &al.ProjectRef, &al.Condition, &al.Detail, &al.DrillID, &al.SnapshotID, &al.RaisedAt, &al.LastSeen,
			&al.ClearedAt, &al.MailStatus, &al.MailTo, &al.MailError, &al.MessageID, &al.Raw, &inserted)
		return al, err
	})
	return al, inserted, err
}

// alarmMailedSince says whether another alarm (not id) of ref and condition
// raised after since is mailed or about to be.
func alarmMailedSince(ctx context.Context, db DB, ref string, c Condition, id int64, since time.Time) (bool, error) {
	var mailed bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM health_alarms WHERE project_ref = $1 AND condition = $2
		AND id <> $3 AND mail_status IN ('pending', 'sent') AND raised_at > $4)`, ref, c, id, since).Scan(&mailed)
	return mailed, err
}

// alarmMailPending marks alarm id's mail to ops as pending.
func alarmMailPending(ctx context.Context, db DB, id int64, ops string) error {
	_, err := db.Exec(ctx, `UPDATE health_alarms SET mail_status = 'pending', mail_to = $2 WHERE id = $1`, id, ops)
	return err
}
