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

// Throttle limits. Attempts are counted before the password is checked, under
// an advisory lock per account and per address, so concurrent guesses stop at
// the limit. Failures lock the pair (account, address) that made them, with
// backoff (PairTiers); an address failing for any accounts is locked after
// MaxFailsPerAddress; and an account failing from many addresses is locked
// after MaxFailsPerAccountGlobal, but only for addresses it has not logged in
// from within KnownAddressFor: an attack from elsewhere does not lock the
// owner out of their usual address.
const (
	ThrottleWindow = 15 * time.Minute
	// MaxFailsPerAccount is the failures of one account from one address
	// within ThrottleWindow (the first of PairTiers).
	MaxFailsPerAccount       = 5
	MaxFailsPerAddress       = 20
	MaxFailsPerAccountGlobal = 50
	KnownAddressFor          = 30 * 24 * time.Hour
)

// PairTiers are the backoff of one account from one address: more than N
// failures (since its last success there) within Window lock it.
var PairTiers = []struct {
	N      int
	Window time.Duration
}{{MaxFailsPerAccount, ThrottleWindow}, {2 * MaxFailsPerAccount, time.Hour}, {4 * MaxFailsPerAccount, 24 * time.Hour}}

// Session is a logged-in browser.
type Session struct {
	Token      string // only set by Login: the cookie value
	CSRFToken  string
	User       User
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// throttled says whether the counts refuse another attempt.
func (c loginCounts) throttled() bool {
	for i, tier := range PairTiers {
		if c.pair[i] >= tier.N {
			return true
		}
	}
	return c.address >= MaxFailsPerAddress || (!c.known && c.account >= MaxFailsPerAccountGlobal)
}

// Login checks the credentials, throttled per account and per address, and
// starts a session. Every attempt is recorded before its password is checked
// (as a failure, turned into a success when it is one); throttled attempts
// are recorded as such, do not count, and go to the audit trail.
func Login(ctx context.Context, db DB, email, password, address string) (Session, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		email = "" // still counted against the address
	}
	var attempt int64
	var throttled bool
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := loginLock(ctx, tx, email, address); err != nil {
			return err
		}
		c, err := loginCount(ctx, tx, email, address)
		if err != nil {
			return err
		}
		throttled = c.throttled()
		if attempt, err = loginAttemptInsert(ctx, tx, email, address, throttled); err != nil {
			return err
		}
		if throttled {
			return audit.Record(ctx, tx, audit.Actor{Name: email, Address: address}, audit.Entry{Action: "user.login_throttled"})
		}
		return nil
	})
	switch {
	case err != nil:
		return Session{}, err
	case throttled:
		return Session{}, ErrThrottled
	case email == "":
		return Session{}, ErrBadCredentials
	}
	u, hash, err := userPasswordHash(ctx, db, email)
	if err == ErrNotFound {
		_, _ = CheckPassword(dummyHash(), password)
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
		return Session{}, ErrBadCredentials
	}
	s := Session{Token: randomToken(32), CSRFToken: randomToken(32), User: u,
		CreatedAt: time.Now(), LastSeenAt: time.Now(), ExpiresAt: time.Now().Add(SessionIdle)}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := loginAttemptSucceeded(ctx, tx, attempt); err != nil {
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
// throttle looks back a day at most), but keeps successes for
// KnownAddressFor: they make an address known. A periodic cleanup job calls it.
func Prune(ctx context.Context, db DB) (sessions, attempts int64, err error) {
	if sessions, err = sessionDeleteExpired(ctx, db); err != nil {
		return 0, 0, fmt.Errorf("prune sessions: %w", err)
	}
	if attempts, err = loginAttemptDeleteOlder(ctx, db, KnownAddressFor); err != nil {
		return sessions, 0, fmt.Errorf("prune login attempts: %w", err)
	}
	return sessions, attempts, nil
}
