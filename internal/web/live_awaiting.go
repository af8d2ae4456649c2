package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/tickets"
)

// liveAwaiting is the dashboard's part of the live stream (?awaiting=1): the
// ids of the tickets awaiting approval, sent as an "awaiting" event whenever
// they change, so live.js refreshes the approvals list at once rather than
// on its 20 s timer.
// dashboardAwaiting is how many tickets the dashboard's approvals list shows.
const dashboardAwaiting = 20

type liveAwaiting struct {
	on   bool
	last []byte
}

func newLiveAwaiting(c echo.Context) *liveAwaiting {
	return &liveAwaiting{on: c.QueryParam("awaiting") == "1"}
}

// send writes the event if the list changed; it reports whether it wrote.
func (l *liveAwaiting) send(ctx context.Context, s *Server, w *echo.Response) (bool, error) {
	if !l.on {
		return false, nil
	}
	ids, err := tickets.AwaitingIDs(ctx, s.Pool, dashboardAwaiting)
	if err != nil {
		return false, err
	}
	b, _ := json.Marshal(ids)
	if bytes.Equal(b, l.last) {
		return false, nil
	}
	if _, err := fmt.Fprintf(w, "event: awaiting\ndata: %s\n\n", b); err != nil {
		return false, err
	}
	l.last = b
	return true, nil
}
