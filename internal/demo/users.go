package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
)

// users are the demo's staff, one per role and a second approver (an
// approver may not approve what they prepared).
var users = []struct {
	email string
	role  auth.Role
}{
	{"admin@demo.localhost", auth.RoleAdmin},
	{"operator@demo.localhost", auth.RoleOperator},
	{"approver@demo.localhost", auth.RoleApprover},
	{"viewer@demo.localhost", auth.RoleViewer},
}

// seedUsers creates the demo users that are missing, with generated
// passwords, and writes every login made to loginsFile (mode 0600) so
// `make demo` can print them on every run. Existing users keep their
// passwords; their lines stay in the file from the run that made them.
func seedUsers(ctx context.Context, pool *pgxpool.Pool, loginsFile string) error {
	var made []string
	for _, u := range users {
		if _, err := auth.UserGetByEmail(ctx, pool, u.email); err == nil {
			continue
		} else if !errors.Is(err, auth.ErrNotFound) {
			return fmt.Errorf("look up demo user %s: %w", u.email, err)
		}
		_, pw, err := auth.CreateUser(ctx, pool, audit.System("portal demo"), auth.NewUser{Email: u.email, Role: u.role})
		if err != nil {
			return fmt.Errorf("create demo user %s: %w", u.email, err)
		}
		made = append(made, fmt.Sprintf("  %-9s %-26s password %s", u.role, u.email, pw))
	}
	if len(made) == 0 || loginsFile == "" {
		return nil
	}
	f, err := os.OpenFile(loginsFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(strings.Join(made, "\n") + "\n")
	return err
}
