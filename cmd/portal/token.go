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
	var user, name *string
	if err := parseVerb(args, "token", "create", tokenUsage, func(fs *flag.FlagSet) {
		user = fs.String("user", "", "email address of the user the token acts as")
		name = fs.String("name", "", "what uses the token")
	}); err != nil {
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

// parseVerb checks that args name verb, the one verb of `portal noun verb`,
// defines its flags with define and parses the arguments after the verb; on
// a mistake it prints usage.
func parseVerb(args []string, noun, verb, usage string, define func(fs *flag.FlagSet)) error {
	if len(args) == 0 || args[0] != verb {
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown %s command", noun)
	}
	fs := flag.NewFlagSet(noun+" "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	define(fs)
	return fs.Parse(args[1:])
}
