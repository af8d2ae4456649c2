package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/audit"
)

// NewUser is what creating a user takes.
type NewUser struct {
	Email    string
	Name     string
	Role     Role
	Password string // empty: generate one (returned by CreateUser)
}

// CreateUser validates and inserts a user and records it in the audit trail.
// It returns the password, generated when none was given, so it can be shown
// once.
func CreateUser(ctx context.Context, db DB, by audit.Actor, nu NewUser) (User, string, error) {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return User{}, "", err
	}
	if !nu.Role.Valid() {
		return User{}, "", &ValidationError{Field: "role", Msg: fmt.Sprintf("%q is not one of viewer, operator, approver, admin", nu.Role)}
	}
	password := nu.Password
	if password == "" {
		password = GeneratePassword()
	}
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, "", err
	}
	var u User
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		u, err = userInsert(ctx, tx, email, strings.TrimSpace(nu.Name), nu.Role, hash)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, audit.Entry{Action: "user.created", UserID: u.ID,
			After: map[string]any{"email": u.Email, "role": u.Role, "name": u.Name}})
	})
	if err != nil {
		return User{}, "", err
	}
	return u, password, nil
}

// UserChange is an edit of a user by an admin.
type UserChange struct {
	Name     string
	Role     Role
	Disabled bool
}

// UpdateUser changes name, role or the disabled flag; disabling ends the
// user's sessions. Admins cannot demote or disable themselves, so the portal
// always keeps an admin who can undo a mistake.
func UpdateUser(ctx context.Context, db DB, by audit.Actor, id int64, ch UserChange) (User, error) {
	if !ch.Role.Valid() {
		return User{}, &ValidationError{Field: "role", Msg: fmt.Sprintf("%q is not a role", ch.Role)}
	}
	if id == by.ID && (ch.Role != RoleAdmin || ch.Disabled) {
		return User{}, &ValidationError{Field: "role", Msg: "you cannot demote or disable yourself; ask another admin"}
	}
	var u User
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		before, err := UserGet(ctx, tx, id)
		if err != nil {
			return err
		}
		u, err = userUpdate(ctx, tx, id, strings.TrimSpace(ch.Name), ch.Role, ch.Disabled)
		if err != nil {
			return err
		}
		if u.Disabled() || u.Role != before.Role {
			if err := sessionDeleteByUser(ctx, tx, id); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, by, audit.Entry{Action: "user.updated", UserID: id,
			Before: map[string]any{"name": before.Name, "role": before.Role, "disabled": before.Disabled()},
			After:  map[string]any{"name": u.Name, "role": u.Role, "disabled": u.Disabled()}})
	})
	return u, err
}

// SetPassword replaces a user's password, ends their sessions and revokes
// their API tokens: whoever knew the old password may have made one.
func SetPassword(ctx context.Context, db DB, by audit.Actor, id int64, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := userSetPassword(ctx, tx, id, hash); err != nil {
			return err
		}
		if err := sessionDeleteByUser(ctx, tx, id); err != nil {
			return err
		}
		revoked, err := tokenRevokeByUser(ctx, tx, id)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, audit.Entry{Action: "user.password_set", UserID: id,
			After: map[string]any{"sessions_ended": true, "tokens_revoked": revoked}})
	})
}
