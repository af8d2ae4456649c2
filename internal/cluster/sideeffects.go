package cluster

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DisableSideEffects turns off what would make a restored copy act on its
// own and repeat the original's side effects: enabled logical replication
// subscriptions, pg_cron jobs, and triggers that send HTTP requests through
// pg_net. It returns one line per thing it turned off, for the ticket.
func DisableSideEffects(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	var done []string

	rows, err := conn.Query(ctx, `SELECT subname FROM pg_subscription
		WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND subenabled`)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	subs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		if _, err := conn.Exec(ctx, "ALTER SUBSCRIPTION "+ident(s)+" DISABLE"); err != nil {
			return nil, fmt.Errorf("disable subscription %s: %w", s, err)
		}
		done = append(done, fmt.Sprintf("logical replication subscription %s disabled", s))
	}

	var hasCron bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('cron.job') IS NOT NULL`).Scan(&hasCron); err != nil {
		return nil, err
	}
	if hasCron {
		tag, err := conn.Exec(ctx, `UPDATE cron.job SET active = false WHERE active`)
		if err != nil {
			return nil, fmt.Errorf("pause pg_cron jobs: %w", err)
		}
		if n := tag.RowsAffected(); n > 0 {
			done = append(done, fmt.Sprintf("%d pg_cron jobs paused (cron.job.active = false)", n))
		}
	}

	rows, err = conn.Query(ctx, `
		SELECT format('%I.%I', n.nspname, c.relname), t.tgname
		FROM pg_trigger t
		JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_proc p ON p.oid = t.tgfoid
		WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
		  AND (p.prosrc ILIKE '%net.http_%' OR p.proname IN ('http_request'))
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list HTTP hook triggers: %w", err)
	}
	type trig struct{ table, name string }
	trigs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (trig, error) {
		var x trig
		return x, r.Scan(&x.table, &x.name)
	})
	if err != nil {
		return nil, err
	}
	for _, tr := range trigs {
		if _, err := conn.Exec(ctx, "ALTER TABLE "+tr.table+" DISABLE TRIGGER "+ident(tr.name)); err != nil {
			return nil, fmt.Errorf("disable trigger %s on %s: %w", tr.name, tr.table, err)
		}
		done = append(done, fmt.Sprintf("HTTP hook trigger %s on %s disabled", tr.name, tr.table))
	}
	return done, nil
}
