package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
)

const userUsage = `usage: portal user add --email E --role R [--name N] [--generate]

  Creates a staff user (roles: viewer, operator, approver, admin). On a
  terminal it asks for the password twice; otherwise, or with --generate, it
  generates one and prints it once.
`

// userCmd is `portal user add`.
func userCmd(ctx context.Context, args []string) error {
	var email, role, name *string
	var generate *bool
	if err := parseVerb(args, "user", "add", userUsage, func(fs *flag.FlagSet) {
		email = fs.String("email", "", "email address (the login)")
		role = fs.String("role", "", "viewer, operator, approver or admin")
		name = fs.String("name", "", "display name")
		generate = fs.Bool("generate", false, "generate the password even on a terminal")
	}); err != nil {
		return err
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		return err
	}
	if _, err := auth.NormalizeEmail(*email); err != nil {
		return err
	}
	password := ""
	if !*generate && isTerminal(os.Stdin) {
		if password, err = promptPassword(os.Stdin, os.Stderr); err != nil {
			return err
		}
	}
	rt, err := openPortal(ctx, io.Discard)
	if err != nil {
		return err
	}
	defer rt.Close()
	u, pw, err := auth.CreateUser(ctx, rt.Pool, audit.System("portal user add"), auth.NewUser{Email: *email, Name: *name, Role: r, Password: password})
	if err != nil {
		return err
	}
	fmt.Printf("created user %s (%s), id %d\n", u.Email, u.Role, u.ID)
	if password == "" {
		fmt.Printf("password (shown once): %s\n", pw)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// promptPassword reads a password twice with echo off.
func promptPassword(in *os.File, out io.Writer) (string, error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old) //nolint:errcheck
	rd := bufio.NewReader(in)
	read := func(prompt string) (string, error) {
		fmt.Fprint(out, prompt)
		line, err := rd.ReadString('\n')
		fmt.Fprintln(out)
		return strings.TrimRight(line, "\r\n"), err
	}
	p1, err := read("Password (empty to generate one): ")
	if err != nil {
		return "", err
	}
	if p1 == "" {
		return "", nil
	}
	if len(p1) < auth.MinPasswordLen {
		return "", fmt.Errorf("the password must be at least %d characters", auth.MinPasswordLen)
	}
	p2, err := read("Again: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", errors.New("the passwords differ")
	}
	return p1, nil
}
