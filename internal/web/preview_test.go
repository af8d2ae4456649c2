package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/testenv"
)

// TestTicketPreviewAPIAndPage: GET /api/v1/tickets/{id}/preview answers
// anyone who may read the ticket (a viewer too) with live counts equal to
// count(*) of the live table; anonymous callers are refused; the approval
// page shows the same numbers and the loss window.
func TestTicketPreviewAPIAndPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPortal(t)
	live := testenv.NewOwnedDatabase(t)
	if _, err := p.pool.Exec(ctx, `UPDATE projects SET database_name = $1 WHERE ref = 'proj-alpha'`, live.Name); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, live.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE public.orders (id int PRIMARY KEY);
		INSERT INTO public.orders SELECT generate_series(1, 1234)`); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-30 * time.Hour).Format(time.RFC3339)
	code, got := p.api(t, p.token(t, auth.RoleOperator), "POST", "/api/v1/tickets", map[string]any{
		"project_ref": "proj-alpha", "requested_at": at, "mode": "destructive", "requester_email": "cust@example.org",
		"scope": map[string]any{"kind": "tables", "tables": []string{"public.orders"}}})
	if code != http.StatusCreated || got["state"] != "awaiting_approval" {
		t.Fatalf("create: %d %v", code, got)
	}
	id := int64(got["id"].(float64))
	path := fmt.Sprintf("/api/v1/tickets/%d/preview", id)
	if code, _ := p.api(t, "", "GET", path, nil); code != http.StatusUnauthorized {
		t.Errorf("anonymous preview: %d", code)
	}
	code, pv := p.api(t, p.token(t, auth.RoleViewer), "GET", path, nil)
	if code != http.StatusOK {
		t.Fatalf("viewer preview: %d %v", code, pv)
	}
	var n int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM public.orders`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	tables, _ := pv["tables"].([]any)
	if len(tables) != 1 {
		t.Fatalf("tables: %v", pv)
	}
	tb := tables[0].(map[string]any)
	if tb["name"] != "public.orders" || tb["live_rows"] != float64(n) || tb["live_exact"] != true || tb["snapshot_rows"] == nil {
		t.Errorf("orders: %v, want live_rows %d", tb, n)
	}
	loss, _ := pv["loss_window"].([]any)
	if len(loss) != 1 || !strings.HasPrefix(loss[0].(string), "Everything written to public.orders after ") {
		t.Errorf("loss window: %v", pv["loss_window"])
	}
	if e, _ := pv["estimate"].(map[string]any); e == nil || e["kind"] != "tables_destructive" || e["seconds"].(float64) <= 0 {
		t.Errorf("estimate: %v", pv["estimate"])
	}

	b := p.login(t, "viewer@example.com")
	res, body := b.get(fmt.Sprintf("/tickets/%d", id))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("page: %d", res.StatusCode)
	}
	if missing := lacking(body, `id="preview-tables"`, `<td data-col="live">1,234</td>`, `id="preview-loss"`, "Everything written to public.orders after", `data-fact="safety"`); len(missing) > 0 {
		t.Errorf("page lacks %q", missing)
	}
}

// TestTicketPreviewWithoutSnapshot: a ticket with no snapshot chosen has no
// plan to preview: 409 with the reason.
func TestTicketPreviewWithoutSnapshot(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	code, got := p.api(t, p.token(t, auth.RoleOperator), "POST", "/api/v1/tickets", map[string]any{
		"project_ref": "proj-alpha", "requested_at": "2001-01-01T00:00:00Z", "mode": "destructive", "requester_email": "cust@example.org"})
	if code != http.StatusCreated || got["snapshot_id"] != nil {
		t.Fatalf("create: %d %v", code, got)
	}
	code, got = p.api(t, p.token(t, auth.RoleViewer), "GET", fmt.Sprintf("/api/v1/tickets/%d/preview", int64(got["id"].(float64))), nil)
	if code != http.StatusConflict || !strings.Contains(fmt.Sprint(got), "no snapshot") {
		t.Errorf("preview without snapshot: %d %v", code, got)
	}
}
