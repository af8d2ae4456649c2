package runbook

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestClassifyPG checks the classification of errors without a server.
func TestClassifyPG(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want pgVerdict
	}{
		{fmt.Errorf("copy: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), pgFault},
		{&pgconn.PgError{Code: "08006", Message: "connection failure"}, pgFault},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, pgFault},
		{fmt.Errorf("entry: %w", &pgconn.PgError{Code: "42601", Message: "syntax error"}), pgNotFault},
		{fmt.Errorf("create: %w", pgconn.ErrConnClosed), pgFault},
		{errors.New("snapshot has no completion trailer"), pgNotFault},
		{fmt.Errorf("gunzip: %w", io.ErrUnexpectedEOF), pgMaybe},
	} {
		if got := classifyPG(c.err); got != c.want {
			t.Errorf("classifyPG(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
