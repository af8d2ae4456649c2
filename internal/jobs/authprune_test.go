package jobs

import (
	"context"
	"testing"

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
