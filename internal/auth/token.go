package auth

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/audit"
)

// TokenPrefix starts every API token, so a leaked one is recognisable.
const TokenPrefix = "rp_"

// Token is an API token's record; its secret is only known at creation.
type Token struct {
	ID         int64
	UserID     int64
	Name       string
	Prefix     string // the first characters, to tell tokens apart
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// CreateToken makes an API token acting as the user and returns its secret,
// which is shown once and stored only hashed.
func CreateToken(ctx context.Context, db DB, by audit.Actor, userID int64, name string) (Token, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Token{}, "", &ValidationError{Field: "name", Msg: "give the token a name, such as the script that uses it"}
	}
	secret := TokenPrefix + randomToken(32)
	var t Token
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		t, err = tokenInsert(ctx, tx, userID, name, secret, secret[:len(TokenPrefix)+6])
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, audit.Entry{Action: "token.created", UserID: userID,
			After: map[string]any{"token_id": t.ID, "name": name, "prefix": t.Prefix}})
	})
	if err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

// TokenAuthenticate returns the user of a live API token, or ErrNotFound.
func TokenAuthenticate(ctx context.Context, db DB, secret string) (User, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return User{}, ErrNotFound
	}
	return tokenUser(ctx, db, secret)
}

// RevokeToken ends one of the user's tokens.
func RevokeToken(ctx context.Context, db DB, by audit.Actor, userID, tokenID int64) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := tokenRevoke(ctx, tx, userID, tokenID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, by, audit.Entry{Action: "token.revoked", UserID: userID,
			After: map[string]any{"token_id": tokenID}})
	})
}
