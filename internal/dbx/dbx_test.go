package dbx_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/dbx"
	"github.com/restoreportal/portal/internal/testenv"
)

// TestInterpretError drives the real server into each error InterpretError
// knows, inside a transaction that is rolled back.
func TestInterpretError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	errWidget := dbx.NotFound("widget not found")

	run := func(t *testing.T, stmt string) error {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE parent (id int PRIMARY KEY);
			CREATE TEMP TABLE child (parent_id int REFERENCES parent (id));
			INSERT INTO parent VALUES (1);`); err != nil {
			t.Fatal(err)
		}
		var n int
		return tx.QueryRow(ctx, stmt).Scan(&n)
	}

	t.Run("no rows is the domain's sentinel", func(t *testing.T) {
		err := dbx.InterpretError(run(t, `SELECT id FROM parent WHERE id = 2`), errWidget)
		if err != errWidget || !errors.Is(err, dbx.ErrNotFound) {
			t.Errorf("err = %v, want errWidget of kind ErrNotFound", err)
		}
		if got := err.Error(); got != "widget not found" {
			t.Errorf("message = %q, want the domain's", got)
		}
	})
	t.Run("no rows without a domain sentinel", func(t *testing.T) {
		if err := dbx.InterpretError(run(t, `SELECT id FROM parent WHERE id = 2`), nil); err != dbx.ErrNotFound {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("unique violation", func(t *testing.T) {
		err := dbx.InterpretError(run(t, `INSERT INTO parent VALUES (1) RETURNING id`), errWidget)
		wantConstraint(t, err, dbx.ErrDuplicate, "23505")
		if errors.Is(err, dbx.ErrNotFound) || errors.Is(err, errWidget) {
			t.Errorf("a duplicate is not a not-found: %v", err)
		}
	})
	t.Run("foreign key violation", func(t *testing.T) {
		wantConstraint(t, dbx.InterpretError(run(t, `INSERT INTO child VALUES (7) RETURNING parent_id`), nil), dbx.ErrReferenced, "23503")
	})
	t.Run("other errors pass through", func(t *testing.T) {
		raw := run(t, `SELECT 1/0`)
		if err := dbx.InterpretError(raw, errWidget); err != raw {
			t.Errorf("err = %v, want %v unchanged", err, raw)
		}
		if err := dbx.InterpretError(nil, errWidget); err != nil {
			t.Errorf("InterpretError(nil) = %v", err)
		}
	})
}

// wantConstraint checks that err is of kind and wraps the server's PgError
// with SQLSTATE code.
func wantConstraint(t *testing.T, err, kind error, code string) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.Is(err, kind) || !errors.As(err, &pe) || pe.Code != code {
		t.Errorf("err = %v, want %q wrapping the PgError %s", err, kind, code)
	}
}

// TestSentinelsKeepTheirIdentity checks that two domains' not-found
// sentinels are both of kind ErrNotFound but never each other.
func TestSentinelsKeepTheirIdentity(t *testing.T) {
	t.Parallel()
	a, b := dbx.NotFound("a not found"), dbx.NotFound("b not found")
	if !errors.Is(a, dbx.ErrNotFound) || !errors.Is(b, dbx.ErrNotFound) {
		t.Error("a domain sentinel is not of kind ErrNotFound")
	}
	if errors.Is(a, b) || errors.Is(b, a) {
		t.Error("two domains' sentinels match each other")
	}
	wrapped := errors.Join(errors.New("context"), a)
	if !errors.Is(wrapped, a) || !errors.Is(wrapped, dbx.ErrNotFound) || errors.Is(wrapped, dbx.ErrDuplicate) {
		t.Errorf("wrapped sentinel: %v", wrapped)
	}
	d := dbx.Duplicate("email taken")
	if !errors.Is(d, dbx.ErrDuplicate) || errors.Is(d, dbx.ErrNotFound) {
		t.Errorf("Duplicate sentinel kind wrong: %v", d)
	}
}

// The pool, a connection and a transaction are each a DBTX.
var (
	_ dbx.DBTX = (*pgxpool.Pool)(nil)
	_ dbx.DBTX = (*pgx.Conn)(nil)
	_ dbx.DBTX = pgx.Tx(nil)
)
