package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/testenv"
)

const pw = "correct horse battery staple"

// newOperator makes, on a portal database of its own, an operator who logs
// in with email and pw.
func newOperator(t *testing.T, email string) (*pgxpool.Pool, auth.User) {
	t.Helper()
	pool := testenv.PortalPool(t)
	u, _, err := auth.CreateUser(context.Background(), pool, audit.System("test"), auth.NewUser{Email: email, Role: auth.RoleOperator, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	return pool, u
}

// TestConcurrentGuessesStopAtTheLimit: 16 wrong passwords at once from one
// address: exactly MaxFailsPerAccount are checked, the rest refused unchecked.
func TestConcurrentGuessesStopAtTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := newOperator(t, "o@example.com")
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = auth.Login(ctx, pool, "o@example.com", "wrong password number "+fmt.Sprint(i), "10.0.0.1")
		}()
	}
	wg.Wait()
	bad, throttled := 0, 0
	for _, err := range errs {
		switch {
		case errors.Is(err, auth.ErrBadCredentials):
			bad++
		case errors.Is(err, auth.ErrThrottled):
			throttled++
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if bad != auth.MaxFailsPerAccount || throttled != 16-auth.MaxFailsPerAccount {
		t.Fatalf("%d checked, %d throttled; want %d and %d", bad, throttled, auth.MaxFailsPerAccount, 16-auth.MaxFailsPerAccount)
	}
	var checked int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM login_attempts WHERE email = 'o@example.com' AND NOT throttled`).Scan(&checked); err != nil || checked != auth.MaxFailsPerAccount {
		t.Fatalf("recorded checked attempts %d (%v)", checked, err)
	}
	// The right password is refused too while throttled.
	if _, err := auth.Login(ctx, pool, "o@example.com", pw, "10.0.0.1"); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("right password while throttled: %v", err)
	}
}

// TestAttackFromElsewhereDoesNotLockTheOwnersAddress: failures of the account
// from many other addresses lock it for unknown addresses only; its owner
// still logs in from where they logged in before.
func TestAttackFromElsewhereDoesNotLockTheOwnersAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := newOperator(t, "owner@example.com")
	if _, err := auth.Login(ctx, pool, "owner@example.com", pw, "192.0.2.10"); err != nil {
		t.Fatal(err)
	}
	for a := 0; a*auth.MaxFailsPerAccount < auth.MaxFailsPerAccountGlobal+10; a++ {
		for i := 0; i <= auth.MaxFailsPerAccount; i++ {
			_, err := auth.Login(ctx, pool, "owner@example.com", "guess guess guess", fmt.Sprintf("198.51.100.%d", a))
			if err == nil {
				t.Fatal("a guess logged in")
			}
		}
	}
	if _, err := auth.Login(ctx, pool, "owner@example.com", pw, "192.0.2.10"); err != nil {
		t.Fatalf("the owner at their usual address: %v", err)
	}
	if _, err := auth.Login(ctx, pool, "owner@example.com", pw, "203.0.113.5"); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("a new address during the attack: %v, want throttled", err)
	}
	// The owner's own mistakes still count at their address.
	for i := 0; i < auth.MaxFailsPerAccount; i++ {
		_, _ = auth.Login(ctx, pool, "owner@example.com", "typo typo typo", "192.0.2.10")
	}
	if _, err := auth.Login(ctx, pool, "owner@example.com", pw, "192.0.2.10"); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("after failures at the usual address: %v", err)
	}
}

// TestPasswordResetRevokesSessionsAndTokens: whoever knew the old password
// may have started a session or made a token; a reset ends both.
func TestPasswordResetRevokesSessionsAndTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, u := newOperator(t, "r@example.com")
	s, err := auth.Login(ctx, pool, "r@example.com", pw, "10.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := auth.CreateToken(ctx, pool, audit.System("test"), u.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.TokenAuthenticate(ctx, pool, secret); err != nil {
		t.Fatal(err)
	}
	if err := auth.SetPassword(ctx, pool, audit.System("admin"), u.ID, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.SessionGet(ctx, pool, s.Token); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("session after reset: %v", err)
	}
	if _, err := auth.TokenAuthenticate(ctx, pool, secret); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("token after reset: %v", err)
	}
}
