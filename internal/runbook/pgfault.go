package runbook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// Transient Postgres faults. A restart of the project cluster or of the
// portal's database during a restore ends the attempt with a connection
// error. Such an attempt is snoozed, not failed: River runs the same job
// again (same approval; a snooze is not counted as an attempt, and neither is
// it one of the watchdog's rescues), and the next attempt resumes from the
// ticket's record: staging is recreated, the recorded safety snapshot
// reused, a recorded cut-over finished. A fault that lasts PORTAL_PG_RETRY_FOR
// fails the ticket with the last error. The window of one outage starts at
// the fault of an attempt that had made progress (reached a phase), and is
// kept by attempts that fail before reaching one.

type pgVerdict int

const (
	pgNotFault pgVerdict = iota // a refused statement, bad data: permanent
	pgFault                     // a connection fault of Postgres, whatever else is known
	pgMaybe                     // a broken stream that may be Postgres's: ask the servers
)

// classifyPG reads err alone. A server error decides by its SQLSTATE: class
// 08 (connection exception), 57P01 admin shutdown, 57P02 crash shutdown,
// 57P03 cannot connect now are faults, any other code is not. A failed
// connect (refused, reset, timed out) and a closed connection are faults.
// Raw broken-pipe, reset and EOF errors, and a failed pg_dump, may come from
// a Postgres connection or from elsewhere (S3, a truncated gzip stream):
// pgMaybe.
func classifyPG(err error) pgVerdict {
	if err == nil {
		return pgNotFault
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			return pgFault
		}
		return pgNotFault
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, pgconn.ErrConnClosed) {
		return pgFault
	}
	var ne *net.OpError
	var ee *exec.ExitError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, net.ErrClosed),
		errors.As(err, &ne), errors.As(err, &ee):
		return pgMaybe
	case strings.Contains(err.Error(), "conn closed"), strings.Contains(err.Error(), "conn busy"):
		return pgMaybe
	}
	return pgNotFault
}

// pgStarts are the postmaster start times of the portal's database and the
// project cluster, read when an attempt starts.
type pgStarts struct {
	portal, project time.Time
}

func (r *restoreRun) readStarts(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r.starts.portal, _ = postmasterStart(ctx, r.d.Pool)
	if r.cl != nil {
		r.starts.project, _ = r.cl.StartedAt(ctx)
	}
}

// pgTrouble tells whether the portal's database or the project cluster is
// unreachable now, or restarted since the attempt started.
func (r *restoreRun) pgTrouble(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	portal, err := postmasterStart(ctx, r.d.Pool)
	if err != nil || !r.starts.portal.IsZero() && !portal.Equal(r.starts.portal) {
		return true
	}
	if r.cl == nil {
		return false
	}
	project, err := r.cl.StartedAt(ctx)
	return err != nil || !r.starts.project.IsZero() && !project.Equal(r.starts.project)
}

// transient tells whether err ended the attempt because of a Postgres fault.
func (r *restoreRun) transient(ctx context.Context, err error) bool {
	switch classifyPG(err) {
	case pgFault:
		return true
	case pgMaybe:
		return r.pgTrouble(ctx)
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// MayBePGFault tells whether err may be a Postgres connection fault (a
// fault, or a broken stream that may be one); a refused statement or bad
// data is not.
func MayBePGFault(err error) bool { return classifyPG(err) != pgNotFault }

// DropCancelledStaging drops the staging databases recorded as made by
// ticket t, cancelled while its job was snoozed after a Postgres fault.
// Only staging copies: a kept database or a table backup belongs to a
// cut-over or swap, which a cancel never interrupts.
func DropCancelledStaging(ctx context.Context, d Deps, t tickets.Ticket, held func(context.Context) error, log *slog.Logger) error {
	recs, err := tickets.DatabaseRecordsByTicket(ctx, d.Pool, t.ID)
	if err != nil {
		return fmt.Errorf("read what the cancelled ticket left: %w", err)
	}
	var cl *cluster.Cluster
	var last error
	for _, rec := range recs {
		if rec.Purpose != tickets.PurposeStaging || rec.Schema != "" || rec.State == tickets.RecordDropped {
			continue
		}
		if cl == nil {
			if cl, err = clusterOf(ctx, d, t.ProjectRef); err != nil {
				return err
			}
		}
		own := recorder{d: d, cl: cl, ticketID: t.ID, held: held}
		if err := own.drop(ctx, rec); err != nil {
			log.Warn("could not drop the cancelled ticket's staging database", "database", rec.Name, "err", err)
			last = err
			continue
		}
		log.Info("dropped the staging database of a ticket cancelled during a Postgres fault", "database", rec.Name)
	}
	return last
}
