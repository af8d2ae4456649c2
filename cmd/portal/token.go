package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
)

const tokenUsage = `usage: portal token create --user EMAIL --name NAME

  Creates an API token acting as the user (for a script or CI) and prints its
  secret once; it is stored only hashed. Users make and revoke their own
  tokens on /account or with POST /api/v1/tokens.
`

// tokenCmd is `portal token create`.
func tokenCmd(ctx context.Context, args []string) error {
	fs, rest, err := verbFlags(args, "token", "create", tokenUsage)
	if err != nil {
		return err
	}
	user := fs.String("user", "", "email address of the user the token acts as")
	name := fs.String("name", "", "what uses the token")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	email, err := auth.NormalizeEmail(*user)
	if err != nil {
		return fmt.Errorf("--user: %w", err)
	}
	rt, err := openPortal(ctx, io.Discard)
	if err != nil {
		return err
	}
	defer rt.Close()
	pool := rt.Pool
	u, err := auth.UserGetByEmail(ctx, pool, email)
	if errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("--user: no user %s", email)
	}
	if err != nil {
		return err
	}
	if u.Disabled() {
		return fmt.Errorf("--user: %s is disabled", email)
	}
	t, secret, err := auth.CreateToken(ctx, pool, audit.System("portal token create"), u.ID, *name)
	if err != nil {
		return err
	}
	fmt.Printf("created token %q (id %d) for %s (%s)\n", t.Name, t.ID, u.Email, u.Role)
	fmt.Printf("token (shown once): %s\n", secret)
	return nil
}

// verbFlags checks that args name verb, the one verb of `portal noun verb`,
// and returns the flag set of its flags and the arguments after the verb; on
// a mistake it prints usage.
func verbFlags(args []string, noun, verb, usage string) (*flag.FlagSet, []string, error) {
	if len(args) == 0 || args[0] != verb {
		fmt.Fprint(os.Stderr, usage)
		return nil, nil, fmt.Errorf("unknown %s command", noun)
	}
	fs := flag.NewFlagSet(noun+" "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	return fs, args[1:], nil
}
