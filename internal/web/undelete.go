package web

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/tickets"
)

// undeleteLimitForm reads the prepare form's undelete limit: fields only,
// never SQL (tickets.Prepare checks the operator against the fixed list; the
// worker checks the column against the table and binds the value).
func undeleteLimitForm(c echo.Context) tickets.UndeleteLimit {
	l := tickets.UndeleteLimit{
		Table: strings.TrimSpace(c.FormValue("undelete_table")),
		Keys:  tickets.ParseUndeleteKeys(c.FormValue("undelete_keys")),
	}
	if op := c.FormValue("undelete_filter_op"); op != "" {
		l.Filter = tickets.UndeleteFilter{Column: strings.TrimSpace(c.FormValue("undelete_filter_column")), Op: op, Value: c.FormValue("undelete_filter_value")}
	}
	if !l.Limits() && !l.HasFilter() {
		return tickets.UndeleteLimit{}
	}
	return l
}
