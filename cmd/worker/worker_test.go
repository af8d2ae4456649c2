package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/restoreportal/portal/internal/testenv"
)

// buildWorker builds this command into a directory of the test's and
// returns the binary's path.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// pgDump is the stack's pg_dump of url as the daily job takes it (no owner,
// no privileges), with args added.
func pgDump(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(testenv.Env(t, "PORTAL_PG_DUMP"), append([]string{"--no-owner", "--no-privileges", "--dbname", url}, args...)...).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}

// stackS3Env is the stack's S3 settings (but the bucket) as the worker's
// environment variables.
func stackS3Env(t *testing.T) []string {
	var env []string
	for _, k := range []string{"PORTAL_S3_ENDPOINT", "PORTAL_S3_REGION", "PORTAL_S3_ACCESS_KEY", "PORTAL_S3_SECRET_KEY", "PORTAL_S3_PATH_STYLE"} {
		env = append(env, k+"="+testenv.Env(t, k))
	}
	return env
}

// execApply runs `worker apply args...` with env added to this process's
// environment, and returns its combined output.
func execApply(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, append([]string{"apply"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
