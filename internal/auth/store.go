package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// SQL of the auth package: users, sessions, API tokens, login attempts.

const userColumns = `id, email, name, role, disabled_at, created_at`

func scanUser(r pgx.Row) (User, error) {
	var u User
	if err := r.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt); err != nil {
		return User{}, dbx.InterpretError(err, ErrNotFound)
	}
	return u, nil
}

// UserGet returns one user by id.
func UserGet(ctx context.Context, db DB, id int64) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

// UserGetByEmail returns one user by email.
func UserGetByEmail(ctx context.Context, db DB, email string) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = lower($1)`, email))
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", email, err)
	}
	return u, nil
}

// UserList returns every user, by email.
func UserList(ctx context.Context, db DB) ([]User, error) {
	rows, err := db.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
}

func userInsert(ctx context.Context, db DB, email, name string, role Role, hash string) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
		RETURNING `+userColumns, email, name, role, hash))
	if errors.Is(err, dbx.ErrDuplicate) {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("insert user: %w", err)
	}
	return u, nil
}

func userPasswordHash(ctx context.Context, db DB, email string) (User, string, error) {
	var u User
	var hash string
	err := db.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = lower($1)`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt, &hash)
	if err != nil {
		return User{}, "", dbx.InterpretError(err, ErrNotFound)
	}
	return u, hash, nil
}

func userUpdate(ctx context.Context, db DB, id int64, name string, role Role, disabled bool) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `UPDATE users SET name = $2, role = $3,
			disabled_at = CASE WHEN $4 THEN coalesce(disabled_at, now()) ELSE NULL END, updated_at = now()
		WHERE id = $1 RETURNING `+userColumns, id, name, role, disabled))
	if err != nil {
		return User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	return u, nil
}

func userSetPassword(ctx context.Context, db DB, id int64, hash string) error {
	tag, err := db.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, id, hash)
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func sessionInsert(ctx context.Context, db DB, token string, userID int64, csrf, address string, expires time.Time) error {
	_, err := db.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, address, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		hashToken(token), userID, csrf, address, expires)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// sessionTouch returns the live session of token and its user, sliding
// last_seen_at at most once a minute so page loads rarely write.
func sessionTouch(ctx context.Context, db DB, token string) (Session, error) {
	var s Session
	var u User
	err := db.QueryRow(ctx, `SELECT s.csrf_token, s.created_at, s.expires_at, s.last_seen_at,
			u.id, u.email, u.name, u.role, u.disabled_at, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL`, hashToken(token)).
		Scan(&s.CSRFToken, &s.CreatedAt, &s.ExpiresAt, &s.LastSeenAt, &u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
	if err = dbx.InterpretError(err, ErrNotFound); err == ErrNotFound {
		return Session{}, err
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	s.User = u
	if time.Since(s.LastSeenAt) > time.Minute {
		_, err = db.Exec(ctx, `UPDATE sessions SET last_seen_at = now(), expires_at = greatest(expires_at, now() + $2::interval)
			WHERE token_hash = $1`, hashToken(token), SessionIdle.String())
		if err != nil {
			return Session{}, fmt.Errorf("touch session: %w", err)
		}
	}
	return s, nil
}

func sessionDelete(ctx context.Context, db DB, token string) error {
	_, err := db.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, hashToken(token))
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

func sessionDeleteByUser(ctx context.Context, db DB, userID int64) error {
	_, err := db.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	if err != nil {
		return fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return nil
}

// sessionDeleteExpired deletes expired sessions and says how many.
func sessionDeleteExpired(ctx context.Context, db DB) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`)
	return tag.RowsAffected(), err
}

// loginAttemptDeleteOlder deletes login attempts older than a day, except
// successes younger than keepSuccesses, and says how many.
func loginAttemptDeleteOlder(ctx context.Context, db DB, keepSuccesses time.Duration) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM login_attempts WHERE created_at < now() - interval '1 day'
		AND (NOT succeeded OR created_at < now() - $1 * interval '1 second')`, keepSuccesses.Seconds())
	return tag.RowsAffected(), err
}

// loginLock serialises the attempts of an account and those of an address
// for the rest of the transaction (always account first, so no two attempts
// wait on each other in a cycle).
func loginLock(ctx context.Context, tx pgx.Tx, email, address string) error {
	for _, key := range []string{"login-account:" + email, "login-address:" + address} {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
			return fmt.Errorf("login lock: %w", err)
		}
	}
	return nil
}

// loginAttemptInsert records an attempt as a failure (or as throttled) and
// returns its id; loginAttemptSucceeded turns it into a success.
func loginAttemptInsert(ctx context.Context, db DB, email, address string, throttled bool) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO login_attempts (email, address, succeeded, throttled) VALUES ($1, $2, false, $3) RETURNING id`,
		email, address, throttled).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record login attempt: %w", err)
	}
	return id, nil
}

func loginAttemptSucceeded(ctx context.Context, db DB, id int64) error {
	if _, err := db.Exec(ctx, `UPDATE login_attempts SET succeeded = true WHERE id = $1`, id); err != nil {
		return fmt.Errorf("record login success: %w", err)
	}
	return nil
}

// loginCounts are the checked failures that bear on an attempt: of the pair
// (account, address) since its last success there, in each of PairTiers'
// windows; of the address; of the account from anywhere (a success does not
// reset it: the owner logging in must not give an attacker new guesses); and
// whether the account logged in from the address recently.
type loginCounts struct {
	pair             [3]int
	address, account int
	known            bool
}

func loginCount(ctx context.Context, db DB, email, address string) (loginCounts, error) {
	var c loginCounts
	secs := func(d time.Duration) float64 { return d.Seconds() }
	err := db.QueryRow(ctx, `WITH f AS (
			SELECT address, created_at FROM login_attempts
			WHERE email = $1 AND NOT succeeded AND NOT throttled AND created_at > now() - $6 * interval '1 second'
		), fp AS (
			SELECT created_at FROM f
			WHERE address = $2 AND created_at > coalesce((SELECT max(created_at) FROM login_attempts
				WHERE email = $1 AND address = $2 AND succeeded), '-infinity')
		)
		SELECT
			(SELECT count(*) FROM fp WHERE created_at > now() - $3 * interval '1 second'),
			(SELECT count(*) FROM fp WHERE created_at > now() - $4 * interval '1 second'),
			(SELECT count(*) FROM fp WHERE created_at > now() - $5 * interval '1 second'),
			(SELECT count(*) FROM login_attempts WHERE address = $2 AND NOT succeeded AND NOT throttled
				AND created_at > now() - $3 * interval '1 second'),
			(SELECT count(*) FROM f WHERE created_at > now() - $3 * interval '1 second'),
			EXISTS (SELECT 1 FROM login_attempts WHERE email = $1 AND address = $2 AND succeeded
				AND created_at > now() - $7 * interval '1 second')`,
		email, address, secs(PairTiers[0].Window), secs(PairTiers[1].Window), secs(PairTiers[2].Window),
		secs(24*time.Hour), secs(KnownAddressFor)).
		Scan(&c.pair[0], &c.pair[1], &c.pair[2], &c.address, &c.account, &c.known)
	if err != nil {
		return loginCounts{}, fmt.Errorf("count login failures: %w", err)
	}
	return c, nil
}

func tokenInsert(ctx context.Context, db DB, userID int64, name, token, prefix string) (Token, error) {
	var t Token
	err := db.QueryRow(ctx, `INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4)
		RETURNING id, user_id, name, prefix, created_at`, userID, name, hashToken(token), prefix).
		Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.CreatedAt)
	if err != nil {
		return Token{}, fmt.Errorf("insert API token: %w", err)
	}
	return t, nil
}

func tokenUser(ctx context.Context, db DB, token string) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `UPDATE api_tokens t SET last_used_at = now()
		FROM users u WHERE u.id = t.user_id AND t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL
		RETURNING u.id, u.email, u.name, u.role, u.disabled_at, u.created_at`, hashToken(token)))
	if err != nil {
		return User{}, fmt.Errorf("API token: %w", err)
	}
	return u, nil
}

// TokenListByUser returns a user's tokens (never their secret).
func TokenListByUser(ctx context.Context, db DB, userID int64) ([]Token, error) {
	rows, err := db.Query(ctx, `SELECT id, user_id, name, prefix, created_at, last_used_at, revoked_at
		FROM api_tokens WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt)
		return t, err
	})
}

func tokenRevoke(ctx context.Context, db DB, userID, id int64) error {
	tag, err := db.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID)
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func tokenRevokeByUser(ctx context.Context, db DB, userID int64) (int64, error) {
	tag, err := db.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, userID)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of user %d: %w", userID, err)
	}
	return tag.RowsAffected(), nil
}
