package web

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/web/templates"
)

// auditList is the trail, newest first, filtered by actor, ticket and kind
// (an action prefix), one line per event with its changes field by field,
// user ids written as names; ?format=csv downloads the same lines.
func (s *Server) auditList(c echo.Context) error {
	before, err := queryInt(c, "before", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	ticketID, err := queryInt(c, "ticket", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	action, actor := strings.TrimSpace(c.QueryParam("action")), strings.TrimSpace(c.QueryParam("actor"))
	csvOut := c.QueryParam("format") == "csv"
	per := 100
	if csvOut {
		per = 500
	}
	ctx := c.Request().Context()
	evs, err := audit.List(ctx, s.Pool, audit.Filter{TicketID: ticketID, Action: action, Actor: actor, BeforeID: before, Limit: per})
	if err != nil {
		return err
	}
	users, err := auth.UserList(ctx, s.Pool)
	if err != nil {
		return err
	}
	names := make(map[int64]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Email
	}
	rows := make([]templates.AuditRow, len(evs))
	for i, e := range evs {
		rows[i] = templates.AuditRow{Event: e, Changes: auditChanges(e.Before, e.After, names)}
	}
	if csvOut {
		return auditCSV(c, rows)
	}
	p := templates.AuditPage{Base: s.base(c, "Audit", "audit"), Events: evs, Rows: rows, Action: action, Actor: actor, TicketID: ticketID}
	q := url.Values{}
	for k, v := range map[string]string{"action": action, "actor": actor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if ticketID != 0 {
		q.Set("ticket", strconv.FormatInt(ticketID, 10))
	}
	csvQ := url.Values{}
	for k, v := range q {
		csvQ[k] = v
	}
	csvQ.Set("format", "csv")
	p.CSV = "/audit?" + csvQ.Encode()
	if len(evs) == per {
		q.Set("before", strconv.FormatInt(evs[len(evs)-1].ID, 10))
		p.Older = "/audit?" + q.Encode()
	}
	return renderPage(c, http.StatusOK, templates.Audit(p))
}

func auditCSV(c echo.Context, rows []templates.AuditRow) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="audit.csv"`)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"time_utc", "actor", "address", "action", "ticket", "changes"})
	for _, r := range rows {
		ticket := ""
		if r.TicketID != 0 {
			ticket = strconv.FormatInt(r.TicketID, 10)
		}
		_ = w.Write([]string{r.At.UTC().Format(time.RFC3339), csvSafe(r.Actor), csvSafe(r.Address), csvSafe(r.Action), ticket,
			csvSafe(strings.Join(r.Changes, "; "))})
	}
	w.Flush()
	return w.Error()
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet (an
// actor or a value can come from a mail).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// userFields are the audit summary's fields that hold a user id.
var userFields = map[string]bool{"assignee_id": true, "prepared_by": true, "approved_by": true, "created_by": true, "user_id": true}

// auditChanges lists what an event changed, field by field ("state: new →
// ready"); for an event with only an after, its fields. User ids are names.
func auditChanges(before, after json.RawMessage, names map[int64]string) []string {
	b, a := map[string]any{}, map[string]any{}
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &a)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		bv, inB := b[k]
		av, inA := a[k]
		bs, as := auditValue(k, bv, names), auditValue(k, av, names)
		label := strings.TrimSuffix(strings.TrimSuffix(k, "_id"), "_by")
		if k == "prepared_by" || k == "approved_by" || k == "created_by" {
			label = strings.ReplaceAll(k, "_", " ")
		}
		label = strings.ReplaceAll(label, "_", " ")
		switch {
		case inB && inA && bs == as:
		case inB && inA:
			out = append(out, fmt.Sprintf("%s: %s → %s", label, bs, as))
		case inA && len(b) == 0:
			out = append(out, fmt.Sprintf("%s: %s", label, as))
		case inA:
			out = append(out, fmt.Sprintf("%s: (none) → %s", label, as))
		default:
			out = append(out, fmt.Sprintf("%s: %s → (none)", label, bs))
		}
	}
	return out
}

func auditValue(key string, v any, names map[int64]string) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if userFields[key] {
			if n, ok := names[int64(x)]; ok {
				return n
			}
			return fmt.Sprintf("user %d", int64(x))
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any:
		if kind, ok := x["kind"].(string); ok && (kind == "full" || kind == "tables") {
			if kind == "full" {
				return "full database"
			}
			var ts []string
			if list, ok := x["tables"].([]any); ok {
				for _, t := range list {
					ts = append(ts, fmt.Sprint(t))
				}
			}
			return strings.Join(ts, ", ")
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
