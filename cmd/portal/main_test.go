package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/testenv"
)

// buildPortal builds the portal binary for the test and returns its path.
func buildPortal(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "portal")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// runPortal runs the binary with args in env and returns what it printed.
func runPortal(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBadConfigStopsWithOneLine runs the real binary with bad settings: it
// must exit non-zero with a last line naming the variable, never a trace.
func TestBadConfigStopsWithOneLine(t *testing.T) {
	t.Parallel()
	bin := buildPortal(t)
	good := []string{
		"PORTAL_S3_BUCKET=snaps",
		"PORTAL_DATABASE_URL=postgres://postgres@127.0.0.1:1/portal?sslmode=disable&connect_timeout=2",
		"PATH=" + os.Getenv("PATH"),
	}
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"missing bucket", []string{"PORTAL_S3_BUCKET="}, "PORTAL_S3_BUCKET"},
		{"malformed database URL", []string{"PORTAL_DATABASE_URL=http//nope"}, "PORTAL_DATABASE_URL"},
		{"unreachable database", nil, "PORTAL_DATABASE_URL"},
		{"malformed S3 endpoint", []string{"PORTAL_S3_ENDPOINT=not a url"}, "PORTAL_S3_ENDPOINT"},
	}
	// The shared dispatch (app.Main): usage and exit 2 for none or an unknown
	// command, usage and exit 0 for help.
	for _, args := range [][]string{nil, {"frobnicate"}, {"help"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		want := 2
		if len(args) == 1 && args[0] == "help" {
			want = 0
		}
		if code != want || !strings.Contains(string(out), "usage: portal <command>") {
			t.Errorf("portal %v: exit %d (want %d), output:\n%s", args, code, want, out)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, "migrate")
			cmd.Env = append(append([]string{}, good...), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("portal migrate succeeded with bad config:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "portal: ") || !strings.Contains(last, tc.want) {
				t.Fatalf("last line %q does not name %s; output:\n%s", last, tc.want, out)
			}
			if strings.Contains(string(out), "goroutine ") || strings.Contains(string(out), "panic") {
				t.Fatalf("stack trace in output:\n%s", out)
			}
		})
	}
}

// TestProjectAddValidatesAgainstTheCluster runs `portal project add` through
// the real binary: a superuser owner is refused with the reason, an
// unprivileged one is registered.
func TestProjectAddValidatesAgainstTheCluster(t *testing.T) {
	t.Parallel()
	bin := buildPortal(t)
	cfg := testenv.Config(t)
	portalURL := testenv.PortalURL(t)
	db := testenv.NewOwnedDatabase(t)
	env := []string{
		"PORTAL_S3_BUCKET=snaps",
		"PORTAL_DATABASE_URL=" + portalURL,
		"PORTAL_PROJECTS_ADMIN_URL=" + cfg.ProjectsAdminURL,
		"PATH=" + os.Getenv("PATH"),
	}
	ref := testenv.Name("cli-")
	run := func(args ...string) (string, error) {
		return runPortal(bin, env, append([]string{"project", "add"}, args...)...)
	}
	out, err := run("--ref", ref, "--database", db.Name, "--owner-role", "postgres")
	if err == nil || !strings.Contains(out, "SUPERUSER") {
		t.Fatalf("a superuser owner role was accepted: %v\n%s", err, out)
	}
	out, err = run("--ref", ref, "--cluster", "elsewhere", "--database", db.Name, "--owner-role", db.Owner)
	if err == nil || !strings.Contains(out, "not configured") {
		t.Fatalf("an unknown cluster was accepted: %v\n%s", err, out)
	}
	out, err = run("--ref", ref, "--database", db.Name, "--owner-role", db.Owner)
	if err != nil || !strings.Contains(out, "registered project "+ref) {
		t.Fatalf("register: %v\n%s", err, out)
	}
	pool := testenv.PortalPoolAt(t, portalURL)
	var owner string
	if err := pool.QueryRow(context.Background(), `SELECT owner_role FROM projects WHERE ref = $1`, ref).Scan(&owner); err != nil || owner != db.Owner {
		t.Fatalf("recorded owner %q (%v)", owner, err)
	}
}

// TestTokenCreate runs `portal token create` through the real binary: an
// unknown user and a missing name are refused with the flag named; a token
// made for a user authenticates as that user.
func TestTokenCreate(t *testing.T) {
	t.Parallel()
	bin := buildPortal(t)
	portalURL := testenv.PortalURL(t)
	pool := testenv.PortalPoolAt(t, portalURL)
	u, _, err := auth.CreateUser(context.Background(), pool, audit.System("test"), auth.NewUser{Email: "ci-owner@example.com", Role: auth.RoleOperator, Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PORTAL_S3_BUCKET=snaps", "PORTAL_DATABASE_URL=" + portalURL, "PATH=" + os.Getenv("PATH")}
	run := func(args ...string) (string, error) {
		return runPortal(bin, env, append([]string{"token", "create"}, args...)...)
	}
	if out, err := run("--user", "nobody@example.com", "--name", "ci"); err == nil || !strings.Contains(out, "--user: no user nobody@example.com") {
		t.Fatalf("unknown user: %v\n%s", err, out)
	}
	if out, err := run("--user", "ci-owner@example.com"); err == nil || !strings.Contains(out, "name") {
		t.Fatalf("no name: %v\n%s", err, out)
	}
	out, err := run("--user", "ci-owner@example.com", "--name", "ci")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	_, secret, ok := strings.Cut(strings.TrimSpace(out), "token (shown once): ")
	if !ok {
		t.Fatalf("no secret in:\n%s", out)
	}
	got, err := auth.TokenAuthenticate(context.Background(), pool, strings.TrimSpace(secret))
	if err != nil || got.ID != u.ID {
		t.Fatalf("the token authenticates as %+v (%v), want user %d", got, err, u.ID)
	}
}
