package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/testenv"
)

func TestSessionsAndPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.PortalPool(t)
	u, pw, err := auth.CreateUser(ctx, pool, audit.System("test"), auth.NewUser{Email: "A@Example.com", Role: auth.RoleOperator})
	if err != nil || u.Email != "a@example.com" || len(pw) < auth.MinPasswordLen {
		t.Fatalf("create: %v %+v", err, u)
	}
	if _, err := auth.Login(ctx, pool, "a@example.com", "wrong password", "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	s, err := auth.Login(ctx, pool, "a@example.com", pw, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := auth.SessionGet(ctx, pool, s.Token)
	if err != nil || got.User.ID != u.ID || !got.CheckCSRF(s.CSRFToken) || got.CheckCSRF("") || got.CheckCSRF("x") {
		t.Fatalf("session: %v", err)
	}
	// Disabling ends the sessions.
	admin := audit.Actor{ID: 999, Name: "admin"}
	if _, err := auth.UpdateUser(ctx, pool, admin, u.ID, auth.UserChange{Role: auth.RoleOperator, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.SessionGet(ctx, pool, s.Token); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("session of a disabled user: %v", err)
	}
	if _, err := auth.Login(ctx, pool, "a@example.com", pw, "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("disabled login: %v", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ('\x01', $1, 'x', now() - interval '1 minute')`, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO login_attempts (email, address, succeeded, created_at) VALUES ('x', 'y', false, now() - interval '2 days')`); err != nil {
		t.Fatal(err)
	}
	ns, na, err := auth.Prune(ctx, pool)
	if err != nil || ns != 1 || na != 1 {
		t.Fatalf("prune: %d %d %v", ns, na, err)
	}
}
