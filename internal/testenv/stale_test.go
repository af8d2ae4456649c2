package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestStaleClustersOfAGoneRunAreCleanedUp: a private cluster whose owner
// file names a process that has exited (as a test binary killed by its
// timeout leaves it) is stopped and its folder removed; a private cluster
// of a process still running (this one) keeps running, untouched.
func TestStaleClustersOfAGoneRunAreCleanedUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gone, alive := NewPrivateCluster(t), NewPrivateCluster(t)
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	goneBase := filepath.Dir(gone.Data())
	// The exited process's pid, with a start time no live process with a
	// reused pid could have.
	if err := os.WriteFile(filepath.Join(goneBase, ownerFile), []byte(fmt.Sprintf("%d 1\n", exited.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, errs := cleanStaleClusters(PGBin(t))
	if !slices.Contains(removed, goneBase) {
		t.Fatalf("removed %v (errors %v): want %s", removed, errs, goneBase)
	}
	if _, err := os.Stat(goneBase); !os.IsNotExist(err) {
		t.Errorf("the stale cluster's folder is still there: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(cctx, gone.AdminURL); err == nil {
		conn.Close(ctx)
		t.Error("the stale cluster still accepts connections")
	}
	if slices.Contains(removed, filepath.Dir(alive.Data())) {
		t.Fatal("the cluster of a live run was removed")
	}
	conn, err := pgx.Connect(cctx, alive.AdminURL)
	if err != nil {
		t.Fatalf("the cluster of a live run stopped answering: %v", err)
	}
	conn.Close(ctx)
	if alive, known := ownerAlive(filepath.Dir(alive.Data())); !alive || !known {
		t.Errorf("this process's own cluster reads as owned by a process that is gone (alive %v, known %v)", alive, known)
	}
}
