package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/testenv"
)

// privatePortal is a private cluster standing in for the portal's
// database, which the test may restart, with a river_job row of one
// running attempt.
func privatePortal(t *testing.T) (*testenv.PrivateCluster, *pgxpool.Pool) {
	t.Helper()
	pc := testenv.NewPrivateCluster(t)
	pool, err := pgxpool.New(context.Background(), pc.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE river_job (id bigint PRIMARY KEY, state text, attempt int);
		INSERT INTO river_job VALUES (7, 'running', 1)`); err != nil {
		t.Fatal(err)
	}
	return pc, pool
}

func newTestLock(t *testing.T, pool *pgxpool.Pool) *projectLocker {
	t.Helper()
	l, ok, err := lockProject(context.Background(), pool, "proj-lock", testenv.Logger(t))
	if err != nil || !ok {
		t.Fatalf("take the lock: %v %v", ok, err)
	}
	l.jobID, l.attempt, l.retryFor = 7, 1, 30*time.Second
	t.Cleanup(l.unlock)
	return l
}

// othersGetLock tells whether another session can take the project lock.
func othersGetLock(t *testing.T, url string) bool {
	t.Helper()
	pool := otherPool(t, url)
	defer pool.Close()
	return tryProjectLock(t, pool)
}

// otherPool is a pool of sessions other than the lock's, on url.
func otherPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// tryProjectLock tries proj-lock's project lock on a session of pool (held
// while the pool lives).
func tryProjectLock(t *testing.T, pool *pgxpool.Pool) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), `SELECT pg_try_advisory_lock($1)`, lockKey("proj-lock")).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// restartedUnderLock is a private portal database restarted while a test
// lock (newTestLock) is held on it.
func restartedUnderLock(t *testing.T) (*testenv.PrivateCluster, *pgxpool.Pool, *projectLocker) {
	t.Helper()
	pc, pool := privatePortal(t)
	l := newTestLock(t, pool)
	pc.Restart()
	return pc, pool, l
}

// TestProjectLockTakenAgainAfterPortalRestart restarts the portal's
// database under a held project lock: the lock dies with its session, and
// alive takes it again on a new one (the job still this attempt's), so the
// attempt goes on and nobody else can take the lock.
func TestProjectLockTakenAgainAfterPortalRestart(t *testing.T) {
	t.Parallel()
	pc, _, l := restartedUnderLock(t)
	if err := l.held(context.Background()); err == nil {
		t.Fatal("held reports a lock whose session died in the restart")
	}
	if err := l.alive(context.Background()); err != nil {
		t.Fatalf("alive after a restart: %v", err)
	}
	if othersGetLock(t, pc.AdminURL) {
		t.Fatal("another session took the project lock the attempt holds again")
	}
	if err := l.held(context.Background()); err != nil {
		t.Fatalf("held after the lock was taken again: %v", err)
	}
}

// TestProjectLockNotTakenAgainWhenJobHandedOver: while the portal's
// database was away the watchdog handed the job to another worker (its
// state is no longer running): alive refuses, so the attempt stops, and the
// lock is free for the new attempt.
func TestProjectLockNotTakenAgainWhenJobHandedOver(t *testing.T) {
	t.Parallel()
	pc, pool, l := restartedUnderLock(t)
	if _, err := pool.Exec(context.Background(), `UPDATE river_job SET state = 'available' WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	if err := l.alive(context.Background()); !errors.Is(err, errLockTaken) {
		t.Fatalf("alive after the job was handed over: %v, want errLockTaken", err)
	}
	if !othersGetLock(t, pc.AdminURL) {
		t.Fatal("the stopped attempt still holds the project lock")
	}
}

// TestProjectLockNotTakenAgainWhenAnotherHoldsIt: another session took
// the lock after the restart, before the attempt: alive refuses.
func TestProjectLockNotTakenAgainWhenAnotherHoldsIt(t *testing.T) {
	t.Parallel()
	pc, _, l := restartedUnderLock(t)
	other := otherPool(t, pc.AdminURL)
	defer other.Close()
	if !tryProjectLock(t, other) {
		t.Fatal("the other session could not take the free lock")
	}
	if err := l.alive(context.Background()); !errors.Is(err, errLockTaken) {
		t.Fatalf("alive while another session holds the lock: %v, want errLockTaken", err)
	}
}

// TestProjectLockUnlockIsBounded: an unlock whose portal database is gone
// returns within unlockTimeout instead of hanging the attempt.
func TestProjectLockUnlockIsBounded(t *testing.T) {
	t.Parallel()
	pc, pool := privatePortal(t)
	l := newTestLock(t, pool)
	pc.Stop()
	start := time.Now()
	l.unlock()
	if d := time.Since(start); d > unlockTimeout+2*time.Second {
		t.Fatalf("unlock took %s with the portal database down", d)
	}
	pc.Start()
	if !othersGetLock(t, pc.AdminURL) {
		t.Fatal("the lock is still held after unlock")
	}
}
