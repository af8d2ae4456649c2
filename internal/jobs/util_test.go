package jobs_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func readAllFrom(t *testing.T, r io.Reader, head []byte) []byte {
	t.Helper()
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{}, head...), rest...)
}

// stripFK removes the FK constraint entry that a table selection leaves out
// (it references a table not restored) from pg_dump -t output.
func stripFK(dump string) string {
	lines := strings.Split(dump, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "-- Name: orders orders_user_id_fkey; Type: FK CONSTRAINT") {
			// header (3 lines incl. the blank and "--" framing) and the ALTER TABLE statement
			for i < len(lines) && !strings.HasSuffix(lines[i], ";") {
				i++
			}
			// drop the framing comment lines already appended
			for len(out) > 0 && (out[len(out)-1] == "--" || out[len(out)-1] == "") {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, lines[i])
	}
	return strings.Join(out, "\n")
}

// onDB runs f on a new connection to the cluster's database db (closed
// after), failing the test on an error.
func (h *harness) onDB(db string, f func(context.Context, *pgx.Conn) error) {
	h.t.Helper()
	h.onConn(func(ctx context.Context) (*pgx.Conn, error) { return h.cl.Connect(ctx, db) }, f)
}

// onAdmin is onDB on the projects cluster's admin connection.
func (h *harness) onAdmin(f func(context.Context, *pgx.Conn) error) {
	h.t.Helper()
	h.onConn(func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, h.cfg.ProjectsAdminURL) }, f)
}

func (h *harness) onConn(connect func(context.Context) (*pgx.Conn, error), f func(context.Context, *pgx.Conn) error) {
	h.t.Helper()
	ctx := context.Background()
	conn, err := connect(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := f(ctx, conn); err != nil {
		h.t.Fatal(err)
	}
}

// execOn runs sql on conn, for onDB and onAdmin.
func execOn(sql string) func(context.Context, *pgx.Conn) error {
	return func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql)
		return err
	}
}

// column runs sql on conn and collects its one column.
func column[T any](ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([]T, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[T])
}

func (h *harness) exec(sql string) {
	h.t.Helper()
	h.onDB(h.db, execOn(sql))
}

func (h *harness) tableDigest(table string) string {
	h.t.Helper()
	var d string
	h.onDB(h.db, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT coalesce(md5(string_agg(x::text, E'\n' ORDER BY x::text)), '') FROM `+table+` x`).Scan(&d)
	})
	return d
}

func (h *harness) adminExec(sql string) {
	h.t.Helper()
	h.onAdmin(execOn(sql))
}
