package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/restoreportal/portal/internal/extract"
)

// session holds the settings every connection must share: the dump's header SETs,
// replayed on each connection before it runs anything.
type session struct {
	mu   sync.Mutex
	sets []string
}

func (s *session) add(sql string) {
	s.mu.Lock()
	s.sets = append(s.sets, sql)
	s.mu.Unlock()
}

func (s *session) snapshot(from int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sets[from:]...)
}

// worker is one target connection.
type worker struct {
	conn    *pgx.Conn
	applied int // number of session sets applied
}

func connect(ctx context.Context, cfg *pgx.ConnConfig) (*worker, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to target database: %w", err)
	}
	return &worker{conn: conn}, nil
}

// sync replays session settings this connection has not applied yet.
func (w *worker) sync(ctx context.Context, s *session) error {
	for _, sql := range s.snapshot(w.applied) {
		if err := w.exec(ctx, sql); err != nil {
			return fmt.Errorf("replay session setting %q: %w", sql, err)
		}
		w.applied++
	}
	return nil
}

func (w *worker) exec(ctx context.Context, sql string) error {
	_, err := w.conn.PgConn().Exec(ctx, sql).ReadAll()
	return err
}

// isSessionSetting reports whether a statement changes session state that every
// connection must share (SET ..., SELECT pg_catalog.set_config(...)).
func isSessionSetting(sql string) bool {
	u := strings.ToUpper(sql)
	if strings.HasPrefix(u, "SET ") {
		return !strings.HasPrefix(u, "SET CONSTRAINTS ") && !strings.HasPrefix(u, "SET TRANSACTION ")
	}
	return strings.HasPrefix(u, "SELECT PG_CATALOG.SET_CONFIG(")
}

// isUnknownSetting reports whether err is "unrecognized configuration parameter".
func isUnknownSetting(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42704" && strings.Contains(pgErr.Message, "configuration parameter")
}

func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// EntryError is a failure to apply one entry: it names the entry and the first line of
// its statement, and wraps the server's error (a *pgconn.PgError when the server refused it).
type EntryError struct {
	Entry     string // header description, e.g. `INDEX "users_email_idx" (line 812)`
	FirstLine string
	Err       error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Entry, e.FirstLine, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

func entryError(e *extract.Entry, err error) error {
	return &EntryError{Entry: e.Describe(), FirstLine: e.FirstLine(), Err: err}
}
