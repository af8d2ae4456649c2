package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// A test binary killed by its -timeout (or by hand) never runs its
// cleanups, so its private clusters keep running in the temporary folder.
// Each private cluster's folder therefore names its owner, the test process
// (pid and start time, so a reused pid is not mistaken for it), in a file
// written before initdb; the first private cluster of a run stops and
// removes every folder whose owner is gone. A folder without that file (one
// being set up right now, or one from before owner files) is left alone, as
// is every folder whose owner still runs.

const ownerFile = "owner"

// clusterPrefix is the temporary folder prefix of private clusters.
const clusterPrefix = "portal-pg-"

var staleOnce sync.Once

// writeOwner records this process as the owner of the private cluster in
// base.
func writeOwner(base string) error {
	start, ok := processStart(os.Getpid())
	if !ok {
		start = "?"
	}
	return os.WriteFile(filepath.Join(base, ownerFile), []byte(fmt.Sprintf("%d %s\n", os.Getpid(), start)), 0o644)
}

// processStart is pid's start time in clock ticks since boot
// (/proc/<pid>/stat field 22); ok false when there is no such process.
func processStart(pid int) (string, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return "", false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", false
	}
	return f[19], true // field 22: the state is field 3, f[0]
}

// ownerAlive tells whether the owner recorded in base's owner file still
// runs; known false when the file cannot be read.
func ownerAlive(base string) (alive, known bool) {
	raw, err := os.ReadFile(filepath.Join(base, ownerFile))
	if err != nil {
		return false, false
	}
	f := strings.Fields(string(raw))
	if len(f) != 2 {
		return false, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return false, false
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil { // no /proc: ask the kernel
		err := syscall.Kill(pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM), true
	}
	start, ok := processStart(pid)
	return ok && (f[1] == "?" || start == f[1]), true
}

// cleanStaleClusters stops (immediate shutdown) and removes every private
// cluster in the temporary folder whose owner is gone, and returns the
// folders it removed. bin is the folder of pg_ctl.
func cleanStaleClusters(bin string) (removed []string, errs []error) {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), clusterPrefix+"*"))
	if err != nil {
		return nil, []error{err}
	}
	for _, base := range dirs {
		if alive, known := ownerAlive(base); alive || !known {
			continue
		}
		if err := cleanStale(bin, base); err != nil {
			errs = append(errs, fmt.Errorf("stale private cluster %s: %w", base, err))
			continue
		}
		removed = append(removed, base)
	}
	return removed, errs
}

// cleanStale stops and removes the cluster in base, holding a lock on its
// owner file so that two runs starting together do not both clean it.
func cleanStale(bin, base string) error {
	f, err := os.Open(filepath.Join(base, ownerFile))
	if err != nil {
		return nil // cleaned by another run meanwhile
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // another run is cleaning it
	}
	data := filepath.Join(base, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		c := &PrivateCluster{bin: bin, data: data}
		if err := c.pgctl("-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
			if _, serr := os.Stat(filepath.Join(data, "postmaster.pid")); serr == nil {
				return err // still running: removing its files would not stop it
			}
		}
	}
	return os.RemoveAll(base)
}
