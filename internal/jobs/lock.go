package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/dbx"
)

// unlockTimeout bounds the release of a project lock: a portal database that
// does not answer must not hold a finished attempt (and its worker slot)
// forever. A lock that could not be released is dropped with its session.
const unlockTimeout = 10 * time.Second

// errLockTaken is the cause of an attempt's end when, after its lock's
// session died, the lock or the job went to another attempt.
var errLockTaken = errors.New("the project lock was taken by another attempt after its session was lost")

// projectLocker is the per-project restore lock of one attempt: a session
// advisory lock on a portal connection of its own. When that session dies (a
// restart of the portal's database), the lock dies with it; the locker then
// takes it again on a new session, but only if nobody took it meanwhile and
// the job is still this attempt's (state running, same attempt number): the
// watchdog hands a job whose lock is free to another worker, and two
// attempts of one restore must never run at once.
type projectLocker struct {
	pool     *pgxpool.Pool
	key      int64
	jobID    int64 // 0: no job check (rollbacks)
	attempt  int
	retryFor time.Duration
	log      *slog.Logger

	// endJob and endAttempt, when set, name the job attempt whose end the
	// unlock records (job_attempt_ends) before it releases the lock, so the
	// watchdog does not read the moment before River records the end as a
	// dead worker.
	endJob     int64
	endAttempt int

	mu   sync.Mutex
	conn *pgxpool.Conn // nil while lost
}

// lockProject tries the lock of ref once; ok is false when another session
// holds it.
func lockProject(ctx context.Context, pool *pgxpool.Pool, ref string, log *slog.Logger) (*projectLocker, bool, error) {
	l := &projectLocker{pool: pool, key: lockKey(ref), log: log}
	conn, ok, err := l.try(ctx)
	if err != nil || !ok {
		return nil, false, err
	}
	l.conn = conn
	return l, true, nil
}

func (l *projectLocker) try(ctx context.Context) (*pgxpool.Conn, bool, error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, l.key).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return conn, true, nil
}

// held reports whether the lock's session answers now, without taking the
// lock again: what a step that drops something checks first.
func (l *projectLocker) held(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return errors.New("the project lock's session is lost")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := l.conn.Ping(ctx); err != nil {
		return fmt.Errorf("lost the project lock's session: %w", err)
	}
	return nil
}

// alive reports whether the attempt still holds the lock, taking it again
// on a new session when the old one died, for up to retryFor. An error means
// the attempt must stop: another attempt may run.
func (l *projectLocker) alive(ctx context.Context) error {
	err := l.held(ctx)
	if err == nil || l.retryFor <= 0 {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.destroy(l.conn)
		l.conn = nil
	}
	l.log.Warn("the project lock's session is lost; taking the lock again", "err", err)
	deadline := time.Now().Add(l.retryFor)
	for {
		conn, ok, terr := l.try(ctx)
		switch {
		case terr == nil && !ok:
			return errLockTaken
		case terr == nil:
			if cerr := l.stillOurs(ctx, conn); cerr != nil {
				l.release(conn)
				return cerr
			}
			l.conn = conn
			l.log.Info("took the project lock again")
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("could not take the project lock again within %s: %w", l.retryFor, terr)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stillOurs checks, under the lock, that the job was not handed to another
// worker while the lock was free.
func (l *projectLocker) stillOurs(ctx context.Context, conn *pgxpool.Conn) error {
	if l.jobID == 0 {
		return nil
	}
	var running bool
	var attempt int
	if err := conn.QueryRow(ctx, `SELECT state = 'running', attempt FROM river_job WHERE id = $1`, l.jobID).Scan(&running, &attempt); err != nil {
		return fmt.Errorf("read job %d after taking the project lock again: %w", l.jobID, err)
	}
	if !running || attempt != l.attempt {
		return fmt.Errorf("%w (job %d is %s at attempt %d)", errLockTaken, l.jobID, map[bool]string{true: "running", false: "no longer running"}[running], attempt)
	}
	return nil
}

// unlock releases the lock within unlockTimeout; a lock it could not release
// is dropped with its session, never handed back to the pool still held.
func (l *projectLocker) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.release(l.conn)
		l.conn = nil
	}
}

func (l *projectLocker) release(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	if l.endJob != 0 {
		if _, err := conn.Exec(ctx, `INSERT INTO job_attempt_ends (job_id, attempt) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			l.endJob, l.endAttempt); err != nil && l.log != nil {
			l.log.Warn("could not record the attempt's end; the watchdog may hand the job back once", "job_id", l.endJob, "err", err)
		}
	}
	var released bool
	if err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, l.key).Scan(&released); err != nil || !released {
		l.destroy(conn)
		return
	}
	conn.Release()
}

// pruneAttemptEnds deletes the attempt-end records (job_attempt_ends) that
// no longer speak of a running job: the job is finalized or gone (River's
// cleaner deletes finished jobs). The watchdog and the drill rescue read
// only the records of jobs that are not finalized, so nothing they read goes.
func pruneAttemptEnds(ctx context.Context, db dbx.DBTX) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM job_attempt_ends e
		WHERE NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = e.job_id AND j.finalized_at IS NULL)`)
	return tag.RowsAffected(), err
}

// destroy closes conn's session (ending any lock it holds) and gives it back
// to the pool, which discards a closed connection.
func (l *projectLocker) destroy(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Conn().Close(ctx)
	conn.Release()
}

// projectLock takes the per-project restore lock, a session advisory lock on
// a connection of its own: held while the attempt runs, released when it
// returns or when its process dies (the connection closes). The watchdog
// reads a free lock on a running job as a dead worker. alive reports whether
// the lock's session still answers; an attempt that lost it must stop, since
// another worker may be handed the job. The unlock is bounded by
// unlockTimeout.
func projectLock(ctx context.Context, pool *pgxpool.Pool, ref string, log *slog.Logger) (unlock func(), alive func(context.Context) error, ok bool, err error) {
	l, ok, err := lockProject(ctx, pool, ref, log)
	if err != nil || !ok {
		return nil, nil, false, err
	}
	return l.unlock, l.held, true, nil
}
