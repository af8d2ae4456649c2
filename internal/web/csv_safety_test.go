package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// formulaStarts are the first characters a spreadsheet reads as a formula.
const formulaStarts = "=+-@"

// csvCellsSafe parses body and fails on any cell that a spreadsheet would
// read as a formula; it returns the cells that were neutralised (quoted
// with a leading ').
func csvCellsSafe(t *testing.T, name, body string) map[string]bool {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("%s: %v %d records\n%s", name, err, len(recs), body)
	}
	quoted := map[string]bool{}
	for i, rec := range recs[1:] {
		for j, cell := range rec {
			if cell != "" && strings.ContainsRune(formulaStarts, rune(cell[0])) {
				t.Errorf("%s: row %d column %q reads as a formula: %q", name, i+1, recs[0][j], cell)
			}
			if strings.HasPrefix(cell, "'") {
				quoted[cell] = true
			}
		}
	}
	return quoted
}

// TestCSVExportsNeutraliseFormulas: every CSV export (the audit trail and the
// drills' month report) writes a cell that starts with = + - or @ with a
// leading ' so a spreadsheet shows it as text, in every free-text column,
// and keeps the text itself.
func TestCSVExportsNeutraliseFormulas(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	ctx := context.Background()

	// Audit: actor, address, action and the changes, each starting with one of them.
	for _, c := range formulaStarts {
		s := string(c)
		if err := audit.Record(ctx, p.pool, audit.Actor{Name: s + `HYPERLINK("http://evil.example/","x")`, Address: s + "1.2.3.4"},
			audit.Entry{Action: s + "cmd|' /C calc'!A0", After: map[string]any{s + "field": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	admin := p.login(t, "admin@example.com")
	res, body := admin.get("/audit?format=csv")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("audit CSV: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	quoted := csvCellsSafe(t, "audit CSV", body)
	for _, c := range formulaStarts {
		for _, want := range []string{"'" + string(c) + `HYPERLINK("http://evil.example/","x")`, "'" + string(c) + "1.2.3.4", "'" + string(c) + "cmd|' /C calc'!A0"} {
			if !quoted[want] {
				t.Errorf("audit CSV: no neutralised cell %q", want)
			}
		}
	}

	// Drills' month report: a failure reason starting with each of them.
	month := time.Now().UTC().Format("2006-01")
	for i, c := range formulaStarts {
		ref := fmt.Sprintf("csv-proj-%d", i)
		tickettest.Project(t, p.pool, ref)
		if _, err := p.pool.Exec(ctx, `INSERT INTO drills (project_ref, outcome, reason, started_at, finished_at, recovery_ms, duration_ms)
			VALUES ($1, 'failed', $2, now(), now(), 1000, 1200)`, ref, string(c)+"SUM(1+1) in table public.orders"); err != nil {
			t.Fatal(err)
		}
	}
	viewer := p.login(t, "viewer@example.com")
	res, body = viewer.get("/api/v1/drills/report?format=csv&month=" + month)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("drills CSV: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	quoted = csvCellsSafe(t, "drills CSV", body)
	for _, c := range formulaStarts {
		if want := "'" + string(c) + "SUM(1+1) in table public.orders"; !quoted[want] {
			t.Errorf("drills CSV: no neutralised cell %q\n%s", want, body)
		}
	}
}
