package drills

import (
	"context"
	"github.com/jackc/pgx/v5"
	"time"
)

// MonthReport returns one row per project with drills in month (the first
// instant of a month, UTC), or only ref's when ref is set.
func MonthReport(ctx context.Context, db DB, month time.Time, ref string) ([]MonthRow, error) {
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	rows, err := db.Query(ctx, `SELECT project_ref, count(*) FILTER (WHERE outcome IN ('passed', 'failed')),
		count(DISTINCT snapshot_id) FILTER (WHERE outcome = 'passed'),
		count(*) FILTER (WHERE outcome = 'failed'),
		max(snapshot_at) FILTER (WHERE outcome = 'passed'),
		(percentile_disc(0.5) WITHIN GROUP (ORDER BY recovery_ms) FILTER (WHERE outcome = 'passed'))::bigint,
		max(recovery_ms) FILTER (WHERE outcome = 'passed'),
		coalesce(array_agg(DISTINCT reason) FILTER (WHERE outcome = 'failed'), '{}')
		FROM drills WHERE started_at >= $1 AND started_at < $2 AND ($3 = '' OR project_ref = $3)
		GROUP BY project_ref ORDER BY project_ref`, from, to, ref)
	if err != nil {
		return nil, err
	}
	label := from.Format("2006-01")
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MonthRow, error) {
		m := MonthRow{Month: label}
		err := r.Scan(&m.ProjectRef, &m.Drills, &m.SnapshotsProven, &m.Failures, &m.LastProvenAt, &m.MedianRecoveryMS,
			&m.MaxRecoveryMS, &m.FailureReasons)
		return m, err
	})
}
