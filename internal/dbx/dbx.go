// Package dbx is what every domain package shares to reach the portal's
// database: the DBTX interface a store function takes, and InterpretError,
// which turns the driver's no-rows and constraint errors into sentinels the
// domains and the web error handler know. Domain packages keep their own
// sentinels (tickets.ErrNotFound says "ticket not found"); each is made with
// NotFound or Duplicate, so errors.Is matches it against the shared kind too.
package dbx

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is a pool, a connection or a transaction: *pgxpool.Pool, *pgx.Conn
// and pgx.Tx all satisfy it.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

var (
	// ErrNotFound is the kind of every "does not exist" error: the row a
	// store function looked for is not there.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate is the kind of a unique violation (SQLSTATE 23505): the
	// row exists already.
	ErrDuplicate = errors.New("already exists")
	// ErrReferenced is the kind of a foreign-key violation (SQLSTATE 23503):
	// a row refers to one that does not exist, or is still referred to.
	ErrReferenced = errors.New("referenced row missing or still referred to")
)

// SQLSTATE codes InterpretError knows.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// kindError is a domain's own sentinel of a shared kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// NotFound returns a new sentinel with message msg that is its own value
// (errors.Is(err, tickets.ErrNotFound) stays true only for tickets) and also
// of kind ErrNotFound, which is what the web error handler maps to 404.
func NotFound(msg string) error { return &kindError{msg: msg, kind: ErrNotFound} }

// Duplicate returns a new sentinel with message msg of kind ErrDuplicate.
func Duplicate(msg string) error { return &kindError{msg: msg, kind: ErrDuplicate} }

// InterpretError maps the driver's errors to sentinels: pgx.ErrNoRows
// becomes notFound (a domain's sentinel made with NotFound; nil means
// ErrNotFound itself), a unique violation wraps ErrDuplicate and a
// foreign-key violation ErrReferenced, both keeping the *pgconn.PgError
// reachable with errors.As. Any other error, and nil, is returned as it is.
func InterpretError(err, notFound error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if notFound == nil {
			return ErrNotFound
		}
		return notFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return fmt.Errorf("%w: %w", ErrDuplicate, err)
		case codeForeignKeyViolation:
			return fmt.Errorf("%w: %w", ErrReferenced, err)
		}
	}
	return err
}

// CollectMap reads every row of rows into a map, scan reading one row's key
// and value, and closes rows.
func CollectMap[K comparable, V any](rows pgx.Rows, scan func(pgx.CollectableRow) (K, V, error)) (map[K]V, error) {
	defer rows.Close()
	out := map[K]V{}
	for rows.Next() {
		k, v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}
