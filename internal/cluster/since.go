package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// TableChanges is what happened to a swapped table since its swap.
type TableChanges struct {
	Table string
	// Rows is how many rows the table holds now: a rollback keeps them all
	// aside before it puts the kept copy back.
	Rows int64
	// WrittenSince counts the rows inserted or updated since the swap: rows
	// whose xmin is not the swap's transaction.
	WrittenSince int64
	// RemovedSince counts the swapped-in rows no longer there as they were
	// (deleted or updated), when the swap's row count is known.
	RemovedSince int64
}

// ChangesSince counts, for each table, the rows written since the swap of
// transaction xid (Swapped.XID) loaded it; loaded is the swap's row counts
// (Swapped.After), or nil. The rows the swap loaded carry its transaction id
// as xmin until changed (freezing keeps xmin), so this needs no copy of the
// restored rows.
func ChangesSince(ctx context.Context, live *pgx.Conn, tables []Table, xid uint64, loaded map[string]int64) ([]TableChanges, error) {
	tables, err := topTables(ctx, live, tables)
	if err != nil {
		return nil, err
	}
	x32 := strconv.FormatUint(xid&0xffffffff, 10)
	var out []TableChanges
	for _, t := range tables {
		rels, err := swapRelsConn(ctx, live, t)
		if err != nil {
			return nil, err
		}
		c := TableChanges{Table: t.String()}
		var same int64
		err = live.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE xmin = $1::text::xid) FROM `+rels.from(), x32).Scan(&c.Rows, &same)
		if err != nil {
			return nil, fmt.Errorf("changes of %s since the swap: %w", t, err)
		}
		c.WrittenSince = c.Rows - same
		if n, ok := loaded[t.String()]; ok && n > same {
			c.RemovedSince = n - same
		}
		out = append(out, c)
	}
	return out, nil
}

func swapRelsConn(ctx context.Context, conn *pgx.Conn, t Table) (swapRel, error) {
	var kind string
	err := conn.QueryRow(ctx, `SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, t.Schema, t.Name).Scan(&kind)
	if err != nil {
		return swapRel{}, fmt.Errorf("table %s: %w", t, err)
	}
	return swapRel{t: t, partitioned: kind == "p"}, nil
}

// Sentence says what a rollback will keep of c, for a confirmation page:
// "1,204 rows written to public.orders since the restore will be kept in X."
func (c TableChanges) Sentence(keptIn string) string {
	s := fmt.Sprintf("%s rows written to %s since the restore will be kept in %s", Thousands(c.WrittenSince), c.Table, keptIn)
	if c.RemovedSince > 0 {
		s += fmt.Sprintf(" (%s restored rows were deleted or changed since)", Thousands(c.RemovedSince))
	}
	return s + fmt.Sprintf("; all %s current rows are kept there.", Thousands(c.Rows))
}

// Thousands writes n with commas: 1,204.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
