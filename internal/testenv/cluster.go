package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PrivateCluster is a Postgres cluster of one test's own (initdb into a
// temporary folder, a free port), for tests that stop or restart the
// server: the stack's clusters are shared by every test of the run.
type PrivateCluster struct {
	t    testing.TB
	bin  string
	data string
	port int
	// AdminURL is its superuser URL (trust authentication, 127.0.0.1 only).
	AdminURL string
}

// NewPrivateCluster initdb's and starts a cluster, stopped and removed when
// the test ends. As root the server runs as the postgres user, as the
// stack's do.
func NewPrivateCluster(t testing.TB) *PrivateCluster {
	t.Helper()
	staleOnce.Do(func() { // stale.go
		removed, errs := cleanStaleClusters(PGBin(t))
		for _, b := range removed {
			t.Logf("testenv: stopped and removed the private cluster %s of a test run that is gone", b)
		}
		for _, err := range errs {
			t.Logf("testenv: %v", err)
		}
	})
	base, err := os.MkdirTemp("", clusterPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := writeOwner(base); err != nil {
		t.Fatal(err)
	}
	c := &PrivateCluster{t: t, bin: PGBin(t), data: filepath.Join(base, "data"), port: freePort(t)}
	if err := os.Mkdir(c.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{base, c.data} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nfsync = off\nunix_socket_directories = '%s'\nmax_connections = 100\n", c.port, base)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(conf)
	f.Close()
	c.AdminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	c.Start()
	t.Cleanup(func() { _ = c.pgctl("-m", "immediate", "-w", "stop") })
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (c *PrivateCluster) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, prog)
	if os.Getuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (c *PrivateCluster) run(prog string, args ...string) {
	c.t.Helper()
	if out, err := c.command(prog, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("testenv: %s: %v\n%s", prog, err, out)
	}
}

func (c *PrivateCluster) pgctl(args ...string) error {
	all := append([]string{"-D", c.data, "-l", filepath.Join(c.data, "server.log")}, args...)
	if out, err := c.command("pg_ctl", all...).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %v: %v: %s", args, err, out)
	}
	return nil
}

// Start starts the server and waits until it accepts connections.
func (c *PrivateCluster) Start() {
	c.t.Helper()
	if err := c.pgctl("-w", "-t", "60", "start"); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.AdminURL)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("testenv: private cluster does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server (fast shutdown: sessions get 57P01).
func (c *PrivateCluster) Stop() {
	c.t.Helper()
	if err := c.pgctl("-m", "fast", "-w", "stop"); err != nil {
		c.t.Fatal(err)
	}
}

// Restart is pg_ctl restart -m fast, returning when the server answers.
func (c *PrivateCluster) Restart() {
	c.t.Helper()
	c.Stop()
	c.Start()
}

// Data is the cluster's data folder.
func (c *PrivateCluster) Data() string { return c.data }
