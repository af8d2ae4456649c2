package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/audit"
)

// SessionIdle is how long a session lives without use; each use (at most once
// a minute) extends it.
const (
	SessionIdle = 12 * time.Hour
)

// Throttle limits: more failures than these within ThrottleWindow refuse
// further attempts, for the account and for the address.
const (
	ThrottleWindow     = 15 * time.Minute
	MaxFailsPerAccount = 5
	MaxFailsPerAddress = 20
)

// Session is a logged-in browser.
type Session struct {
	Token      string // only set by Login: the cookie value
	CSRFToken  string
	User       User
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// Login checks the credentials, throttled per account and per address, and
// starts a session. Every attempt is recorded; successes and throttled
// attempts go to the audit trail.
func Login(ctx context.Context, db DB, email, password, address string) (Session, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		// Still counted against the address.
		_ = loginAttemptInsert(ctx, db, "", address, false)
		return Session{}, ErrBadCredentials
	}
	byEmail, byAddr, err := loginFailures(ctx, db, email, address, ThrottleWindow)
	if err != nil {
		return Session{}, err
	}
	if byEmail >= MaxFailsPerAccount || byAddr >= MaxFailsPerAddress {
		_ = loginAttemptInsert(ctx, db, email, address, false)
		_ = audit.Record(ctx, db, audit.Actor{Name: email, Address: address}, audit.Entry{Action: "user.login_throttled"})
		return Session{}, ErrThrottled
	}
	u, hash, err := userPasswordHash(ctx, db, email)
	if err == ErrNotFound {
		_, _ = CheckPassword(dummyHash(), password)
		_ = loginAttemptInsert(ctx, db, email, address, false)
		return Session{}, ErrBadCredentials
	}
	if err != nil {
		return Session{}, err
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		return Session{}, err
	}
	if !ok || u.Disabled() {
		if err := loginAttemptInsert(ctx, db, email, address, false); err != nil {
			return Session{}, err
		}
		return Session{}, ErrBadCredentials
	}
	s := Session{Token: randomToken(32), CSRFToken: randomToken(32), User: u,
		CreatedAt: time.Now(), LastSeenAt: time.Now(), ExpiresAt: time.Now().Add(SessionIdle)}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := loginAttemptInsert(ctx, tx, email, address, true); err != nil {
			return err
		}
		if err := sessionInsert(ctx, tx, s.Token, u.ID, s.CSRFToken, address, s.ExpiresAt); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Actor{ID: u.ID, Name: u.Email, Address: address},
			audit.Entry{Action: "user.login", UserID: u.ID})
	})
	if err != nil {
		return Session{}, err
	}
	return s, nil
}

// SessionGet returns the live session of a cookie token, or ErrNotFound.
func SessionGet(ctx context.Context, db DB, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrNotFound
	}
	return sessionTouch(ctx, db, token)
}

// Logout ends the session of token.
func Logout(ctx context.Context, db DB, s Session, token, address string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := sessionDelete(ctx, tx, token); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Actor{ID: s.User.ID, Name: s.User.Email, Address: address},
			audit.Entry{Action: "user.logout", UserID: s.User.ID})
	})
}

// CheckCSRF compares a submitted token with the session's in constant time.
func (s Session) CheckCSRF(submitted string) bool {
	return submitted != "" && subtle.ConstantTimeCompare([]byte(submitted), []byte(s.CSRFToken)) == 1
}

// Prune deletes expired sessions and login attempts older than a day (the
// throttle looks back ThrottleWindow). A periodic cleanup job calls it.
func Prune(ctx context.Context, db DB) (sessions, attempts int64, err error) {
	tag, err := db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`)
	if err != nil {
		return 0, 0, fmt.Errorf("prune sessions: %w", err)
	}
	sessions = tag.RowsAffected()
	tag, err = db.Exec(ctx, `DELETE FROM login_attempts WHERE created_at < now() - interval '1 day'`)
	if err != nil {
		return sessions, 0, fmt.Errorf("prune login attempts: %w", err)
	}
	return sessions, tag.RowsAffected(), nil
}
