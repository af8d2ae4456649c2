// Package auth holds the portal's staff: users and their roles, password
// hashing (argon2id), server-side sessions in Postgres, API tokens stored
// hashed, and login throttling per account and per address. It knows nothing
// of HTTP; internal/web turns cookies and headers into calls here.
package auth

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/restoreportal/portal/internal/dbx"
)

// DB is a pool, a connection or a transaction.
type DB = dbx.DBTX

// Role is what a user may do. Roles are ordered: each can do what the ones
// before it can.
type Role string

const (
	RoleViewer   Role = "viewer"   // reads everything
	RoleOperator Role = "operator" // triages tickets, starts non-destructive restores
	RoleApprover Role = "approver" // approves destructive restores
	RoleAdmin    Role = "admin"    // users, settings, the job queue UI
)

// Roles lists every role, least first.
var Roles = []Role{RoleViewer, RoleOperator, RoleApprover, RoleAdmin}

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i
		}
	}
	return -1
}

// Valid says whether r is a known role.
func (r Role) Valid() bool { return r.rank() >= 0 }

// AtLeast says whether r includes everything min may do.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", &ValidationError{Field: "role", Msg: fmt.Sprintf("%q is not one of viewer, operator, approver, admin", s)}
	}
	return r, nil
}

// User is a staff account.
type User struct {
	ID         int64
	Email      string
	Name       string
	Role       Role
	DisabledAt *time.Time
	CreatedAt  time.Time
}

// Disabled says whether the account may no longer log in.
func (u User) Disabled() bool { return u.DisabledAt != nil }

var (
	// ErrNotFound is returned when a user, session or token does not exist.
	ErrNotFound = dbx.NotFound("auth: not found")
	// ErrBadCredentials is returned for a wrong email or password, without
	// saying which.
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrThrottled is returned when too many logins failed recently.
	ErrThrottled = errors.New("too many failed logins; wait a few minutes and try again")
	// ErrEmailTaken is returned when a user with the email exists.
	ErrEmailTaken = dbx.Duplicate("a user with this email exists")
)

// ValidationError names the field a person has to correct.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Msg }

// NormalizeEmail lower-cases and checks an address.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return "", &ValidationError{Field: "email", Msg: fmt.Sprintf("%q is not an email address", s)}
	}
	return s, nil
}
