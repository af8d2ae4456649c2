package drills

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// MonthRow is one project's drills in one month: what an auditor asks for.
type MonthRow struct {
	ProjectRef string `json:"project_ref"`
	Month      string `json:"month"` // YYYY-MM (UTC)
	Drills     int    `json:"drills"`
	// SnapshotsProven counts distinct snapshots a drill restored and checked.
	SnapshotsProven int        `json:"snapshots_proven"`
	Failures        int        `json:"failures"`
	LastProvenAt    *time.Time `json:"last_proven_at"`
	// Recovery times of the passed drills, in milliseconds.
	MedianRecoveryMS *int64 `json:"median_recovery_ms"`
	MaxRecoveryMS    *int64 `json:"max_recovery_ms"`
	// FailureReasons are the distinct reasons of the month's failures.
	FailureReasons []string `json:"failure_reasons"`
}

// ParseMonth reads YYYY-MM as the first instant of that month in UTC.
func ParseMonth(s string) (time.Time, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("month %q is not YYYY-MM", s)
	}
	return t.UTC(), nil
}

// WriteCSV writes rows as CSV with a header line. Recovery times are in
// seconds with millisecond precision.
func WriteCSV(w io.Writer, rows []MonthRow) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"project_ref", "month", "drills", "snapshots_proven", "failures", "last_proven_snapshot_at",
		"median_recovery_seconds", "max_recovery_seconds", "failure_reasons"})
	for _, m := range rows {
		last := ""
		if m.LastProvenAt != nil {
			last = m.LastProvenAt.UTC().Format(time.RFC3339)
		}
		reasons := ""
		for i, r := range m.FailureReasons {
			if i > 0 {
				reasons += " | "
			}
			reasons += r
		}
		if err := cw.Write([]string{csvSafe(m.ProjectRef), m.Month, strconv.Itoa(m.Drills), strconv.Itoa(m.SnapshotsProven),
			strconv.Itoa(m.Failures), last, seconds(m.MedianRecoveryMS), seconds(m.MaxRecoveryMS), csvSafe(reasons)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func seconds(ms *int64) string {
	if ms == nil {
		return ""
	}
	return strconv.FormatFloat(float64(*ms)/1000, 'f', 3, 64)
}

// csvSafe keeps a spreadsheet from reading a cell as a formula: a failure
// reason can quote a customer's table name.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
