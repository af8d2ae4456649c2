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

// firstDiff shows where two dumps part, for failure messages.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return "(equal)"
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

func (h *harness) exec(sql string) {
	h.t.Helper()
	ctx := context.Background()
	conn, err := h.cl.Connect(ctx, h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) tableDigest(table string) string {
	h.t.Helper()
	ctx := context.Background()
	conn, err := h.cl.Connect(ctx, h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var d string
	if err := conn.QueryRow(ctx, `SELECT coalesce(md5(string_agg(x::text, E'\n' ORDER BY x::text)), '') FROM `+table+` x`).Scan(&d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) adminExec(sql string) {
	h.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.cfg.ProjectsAdminURL)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		h.t.Fatal(err)
	}
}
