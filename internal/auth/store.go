package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SQL of the auth package: users, sessions, API tokens, login attempts.

const userColumns = `id, email, name, role, disabled_at, created_at`

func scanUser(r pgx.Row) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.DisabledAt, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
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
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
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
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, "", ErrNotFound
	}
	return u, hash, err
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
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNotFound
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

func loginAttemptInsert(ctx context.Context, db DB, email, address string, ok bool) error {
	_, err := db.Exec(ctx, `INSERT INTO login_attempts (email, address, succeeded) VALUES ($1, $2, $3)`, email, address, ok)
	if err != nil {
		return fmt.Errorf("record login attempt: %w", err)
	}
	return nil
}

// loginFailures counts failures since the last success of the account, and
// failures from the address, within the window.
func loginFailures(ctx context.Context, db DB, email, address string, window time.Duration) (byEmail, byAddress int, err error) {
	err = db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM login_attempts WHERE email = $1 AND NOT succeeded AND created_at > now() - $3::interval
			AND created_at > coalesce((SELECT max(created_at) FROM login_attempts WHERE email = $1 AND succeeded), '-infinity')),
		(SELECT count(*) FROM login_attempts WHERE address = $2 AND NOT succeeded AND created_at > now() - $3::interval)`,
		email, address, window.String()).Scan(&byEmail, &byAddress)
	if err != nil {
		return 0, 0, fmt.Errorf("count login failures: %w", err)
	}
	return byEmail, byAddress, nil
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
