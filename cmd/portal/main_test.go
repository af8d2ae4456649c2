package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadConfigStopsWithOneLine runs the real binary with bad settings: it
// must exit non-zero with a last line naming the variable, never a trace.
func TestBadConfigStopsWithOneLine(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "portal")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
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
