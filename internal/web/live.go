package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/tickets"
)

// livePoll is how often the progress stream reads the tickets; the worker
// writes progress at most a few times a second, people read it at a glance.
const livePoll = time.Second

// liveProgress streams, as server-sent events, the state and progress of the
// tickets in ?ids= and of every queued or running ticket, whenever they
// change. Pages work without it; live.js uses it to move the progress bars.
func (s *Server) liveProgress(c echo.Context) error {
	var ids []int64
	for _, p := range strings.Split(c.QueryParam("ids"), ",") {
		if id, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64); err == nil && len(ids) < 100 {
			ids = append(ids, id)
		}
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx := c.Request().Context()
	tick := time.NewTicker(livePoll)
	defer tick.Stop()
	var last []byte
	lastWrite := time.Now()
	awaiting := newLiveAwaiting(c)
	// The stream ends after a while; EventSource reconnects by itself, which
	// also re-checks the session.
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		st, err := tickets.TicketLiveStatus(ctx, s.Pool, ids)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.Log.Warn("live progress", "err", err)
			return nil
		}
		if st == nil {
			st = []tickets.LiveStatus{}
		}
		b, _ := json.Marshal(st)
		if wrote, err := awaiting.send(ctx, s, w); err != nil {
			return nil
		} else if wrote {
			lastWrite = time.Now()
			w.Flush()
		}
		if !bytes.Equal(b, last) {
			if _, err := fmt.Fprintf(w, "event: progress\ndata: %s\n\n", b); err != nil {
				return nil
			}
			last, lastWrite = b, time.Now()
			w.Flush()
		} else if time.Since(lastWrite) > 15*time.Second {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			lastWrite = time.Now()
			w.Flush()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	return nil
}
