package jobs

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/testenv"
)

func TestAuthPruneDeletesExpiredSessionsOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	var uid int64
	if err := pool.QueryRow(ctx, `INSERT INTO users (email, role, password_hash) VALUES ('x@example.com', 'viewer', 'x') RETURNING id`).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES
		('\x01', $1, 'c', now() - interval '1 minute'), ('\x02', $1, 'c', now() + interval '1 hour')`, uid); err != nil {
		t.Fatal(err)
	}
	w := &AuthPruneWorker{d: Deps{Pool: pool, Log: testenv.Logger(t)}}
	if err := w.Work(ctx, &river.Job[AuthPruneArgs]{}); err != nil {
		t.Fatal(err)
	}
	var left []byte
	if err := pool.QueryRow(ctx, `SELECT token_hash FROM sessions`).Scan(&left); err != nil {
		t.Fatalf("want exactly the live session left: %v", err)
	}
	if len(left) != 1 || left[0] != 2 {
		t.Fatalf("left session %x, want the unexpired one (02)", left)
	}
}

// TestAuthPruneDeletesTheAttemptEndsOfFinishedJobsOnly: the records of a
// finalized job and of a job River has deleted go; those of a running job
// (which the watchdog reads) stay, each of its attempts.
func TestAuthPruneDeletesTheAttemptEndsOfFinishedJobsOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	var running, done int64
	for _, q := range []struct {
		id  *int64
		sql string
	}{
		{&running, `INSERT INTO river_job (kind, args, state, attempt, max_attempts, attempted_at) VALUES ('restore', '{}', 'running', 2, 5, now()) RETURNING id`},
		{&done, `INSERT INTO river_job (kind, args, state, attempt, max_attempts, attempted_at, finalized_at) VALUES ('restore', '{}', 'completed', 1, 5, now(), now()) RETURNING id`},
	} {
		if err := pool.QueryRow(ctx, q.sql).Scan(q.id); err != nil {
			t.Fatal(err)
		}
	}
	gone := done + 1000
	if _, err := pool.Exec(ctx, `INSERT INTO job_attempt_ends (job_id, attempt) VALUES ($1, 1), ($1, 2), ($2, 1), ($3, 1)`, running, done, gone); err != nil {
		t.Fatal(err)
	}
	w := &AuthPruneWorker{d: Deps{Pool: pool, Log: testenv.Logger(t)}}
	if err := w.Work(ctx, &river.Job[AuthPruneArgs]{}); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT ARRAY[job_id, attempt::bigint] FROM job_attempt_ends ORDER BY job_id, attempt`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[[]int64])
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int64{{running, 1}, {running, 2}}; !slices.EqualFunc(left, want, slices.Equal) {
		t.Fatalf("attempt ends left %v, want the running job's %v", left, want)
	}
}
