package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/snapshots"
)

// TestCaptureTablesTakesOnlyThoseTables: the safety snapshot of a table
// restore holds exactly the named tables (a name with a space and capitals
// is matched literally, not as a pattern), is manual, verified, and says in
// its key that it holds only some tables.
func TestCaptureTablesTakesOnlyThoseTables(t *testing.T) {
	t.Parallel()
	d, _ := projectDeps(t, "proj-captables")
	ctx := context.Background()
	s, err := CaptureTables(ctx, d, "proj-captables", []pgx.Identifier{{"public", "orders"}, {"public", "Odd Name"}})
	if err != nil {
		t.Fatalf("CaptureTables: %v", err)
	}
	if s.Status != snapshots.StatusVerified || s.Kind != snapshots.KindManual || !strings.HasSuffix(s.Key, "Z.tables.sql.gz") || s.TakenAt == nil {
		t.Fatalf("captured = %+v", s)
	}
	got := tableRows(t, d, s.ID)
	if len(got) != 2 || got["public.orders"] != 1000 || got["public.Odd Name"] != 2 {
		t.Fatalf("inventory of the tables snapshot = %v, want only public.orders (1000) and public.Odd Name (2)", got)
	}
	if _, err := CaptureTables(ctx, d, "proj-captables", nil); err == nil {
		t.Fatal("a tables capture with no tables was accepted")
	}
}
