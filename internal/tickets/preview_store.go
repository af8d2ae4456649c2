package tickets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
)

// LiveTable is one table of a live database as the preview reads it.
type LiveTable struct {
	Rows  int64
	Exact bool // Rows is count(*); else the planner's estimate
	Bytes int64
}

// LiveTables reads every ordinary and partitioned table of database name on
// cl: its size, and its rows, counted exactly (count(*) FROM ONLY, which is
// what a dump's COPY block holds) where the planner estimates at most
// exactRows rows, else that estimate. It runs in one read-only transaction
// with statement_timeout set; a count that times out falls back to the
// estimate. Nothing is locked beyond the ACCESS SHARE a count takes.
func LiveTables(ctx context.Context, cl *cluster.Cluster, name string, exactRows int64, timeout time.Duration) (map[string]LiveTable, error) {
	exactRows = cmp.Or(exactRows, DefaultPreviewExactRows)
	timeout = cmp.Or(timeout, DefaultPreviewStatementTimeout)
	conn, err := cl.Connect(ctx, name)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("begin read-only: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", timeout.Milliseconds())); err != nil {
		return nil, err
	}
	type rel struct {
		schema, name string
		est, bytes   int64
	}
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname,
			greatest(c.reltuples, coalesce(s.n_live_tup, 0), 0)::bigint, pg_total_relation_size(c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
			AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		return x, r.Scan(&x.schema, &x.name, &x.est, &x.bytes)
	})
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := make(map[string]LiveTable, len(rels))
	for _, r := range rels {
		lt := LiveTable{Rows: r.est, Bytes: r.bytes}
		if r.est <= exactRows {
			n, ok, err := countExact(ctx, tx, pgx.Identifier{r.schema, r.name})
			if err != nil {
				return nil, err
			}
			if ok {
				lt.Rows, lt.Exact = n, true
			}
		}
		out[r.schema+"."+r.name] = lt
	}
	return out, nil
}

// countExact counts a table's own rows in a savepoint; ok is false when the
// count hit the statement timeout.
func countExact(ctx context.Context, tx pgx.Tx, table pgx.Identifier) (int64, bool, error) {
	if _, err := tx.Exec(ctx, "SAVEPOINT preview_count"); err != nil {
		return 0, false, err
	}
	var n int64
	err := tx.QueryRow(ctx, "SELECT count(*) FROM ONLY "+table.Sanitize()).Scan(&n)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "57014" { // query_canceled: the statement timeout
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT preview_count"); err != nil {
			return 0, false, err
		}
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("count %s: %w", table.Sanitize(), err)
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT preview_count"); err != nil {
		return 0, false, err
	}
	return n, true, nil
}

func sortedLiveNames(m map[string]LiveTable) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// EstimateDuration estimates a restore of a dump of size bytes from this
// installation's last 50 succeeded restores of the same kind (scope and
// mode): their snapshots' bytes over the seconds their steps took. With
// none it assumes DefaultRestoreBytesPerSecond and says so.
func EstimateDuration(ctx context.Context, db snapshots.DB, scope ScopeKind, mode Mode, size int64) (Estimate, error) {
	kind := string(scope) + "_" + string(mode)
	var (
		n       int
		bytes   int64
		seconds float64
	)
	err := db.QueryRow(ctx, `SELECT count(*), coalesce(sum(size), 0), coalesce(sum(seconds), 0) FROM (
			SELECT s.size, (SELECT sum((st->>'seconds')::float8) FROM jsonb_array_elements(t.result->'steps') st) AS seconds
			FROM tickets t JOIN snapshots s ON s.id = t.snapshot_id
			WHERE t.scope_kind = $1 AND t.mode = $2 AND (t.result->>'ok')::boolean
				AND jsonb_typeof(t.result->'steps') = 'array' AND jsonb_array_length(t.result->'steps') > 0
			ORDER BY t.id DESC LIMIT 50) r
		WHERE seconds > 0`, string(scope), string(mode)).Scan(&n, &bytes, &seconds)
	if err != nil {
		return Estimate{}, fmt.Errorf("past restores: %w", err)
	}
	e := Estimate{Kind: kind, Restores: n}
	if n == 0 || seconds <= 0 || bytes <= 0 {
		e.BytesPerSecond = DefaultRestoreBytesPerSecond
		e.Basis = fmt.Sprintf("no finished %s restore yet: assuming %s/s of compressed dump", kind, FormatBytes(DefaultRestoreBytesPerSecond))
	} else {
		e.BytesPerSecond = float64(bytes) / seconds
		e.Basis = fmt.Sprintf("from %d past %s restore(s) on this installation: %s/s of compressed dump", n, kind, FormatBytes(int64(e.BytesPerSecond)))
	}
	e.Seconds = float64(size) / e.BytesPerSecond
	return e, nil
}

// FormatBytes is a size in binary units: 512 B, 3.4 MiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
