package jobs_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/jobs"
)

// pgProxy is a TCP relay in front of the stack's project cluster: it reads
// each connection's startup message (who logs in, to which database), counts
// it, and can cut connections, as a network that drops them would. The
// server behind it is the real one.
type pgProxy struct {
	target string
	ln     net.Listener
	mu     sync.Mutex
	opened []pgStart
	live   map[net.Conn]pgStart
}

type pgStart struct{ user, database string }

// startPGProxy relays to adminURL's host and returns the proxy; proxyURL is
// adminURL through it.
func startPGProxy(t *testing.T, adminURL string) (px *pgProxy, proxyURL string) {
	t.Helper()
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px = &pgProxy{target: u.Host, ln: ln, live: map[net.Conn]pgStart{}}
	t.Cleanup(func() { ln.Close(); px.cut(func(pgStart) bool { return true }) })
	go px.serve()
	u.Host = ln.Addr().String()
	return px, u.String()
}

func (px *pgProxy) serve() {
	for {
		c, err := px.ln.Accept()
		if err != nil {
			return
		}
		go px.relay(c)
	}
}

// relay reads the startup message (sslmode=disable: it is the first), records
// it and copies both ways until either side closes.
func (px *pgProxy) relay(c net.Conn) {
	defer c.Close()
	var head [4]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return
	}
	n := int(binary.BigEndian.Uint32(head[:]))
	if n < 8 || n > 1<<16 {
		return
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	if _, err := io.ReadFull(c, msg[4:]); err != nil {
		return
	}
	var st pgStart
	kv := strings.Split(string(msg[8:]), "\x00")
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "user":
			st.user = kv[i+1]
		case "database":
			st.database = kv[i+1]
		}
	}
	up, err := net.Dial("tcp", px.target)
	if err != nil {
		return
	}
	defer up.Close()
	px.mu.Lock()
	px.opened = append(px.opened, st)
	px.live[c] = st
	px.mu.Unlock()
	defer func() { px.mu.Lock(); delete(px.live, c); px.mu.Unlock() }()
	if _, err := up.Write(msg); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// reset forgets the connections counted so far.
func (px *pgProxy) reset() { px.mu.Lock(); px.opened = nil; px.mu.Unlock() }

// count is the number of connections opened since reset that match.
func (px *pgProxy) count(match func(pgStart) bool) (n int) {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, s := range px.opened {
		if match(s) {
			n++
		}
	}
	return n
}

// cut closes the open connections that match and says how many it closed.
func (px *pgProxy) cut(match func(pgStart) bool) (n int) {
	px.mu.Lock()
	defer px.mu.Unlock()
	for c, s := range px.live {
		if match(s) {
			c.Close()
			n++
		}
	}
	return n
}

func isAdmin(s pgStart) bool { return !strings.HasPrefix(s.user, cluster.LoginPrefix) }

// newProxiedDrillHarness is a drill harness whose project cluster is reached
// through a pgProxy.
func newProxiedDrillHarness(t *testing.T) (*harness, *pgProxy) {
	t.Helper()
	var px *pgProxy
	h := newHarnessWith(t, randomRef(), func(c *config.Config) {
		c.Drills.OpsAddress = opsAddress
		var u string
		px, u = startPGProxy(t, c.ProjectsAdminURL)
		c.ProjectsAdminURL = u
		c.Clusters = map[string]string{cluster.Default: u}
	})
	return h, px
}

// loginRolesOf lists the drills' login roles that are members of owner.
func (h *harness) loginRolesOf(owner string) []string {
	h.t.Helper()
	return liveQuery[[]string](h, "postgres", `SELECT coalesce(array_agg(r.rolname), '{}') FROM pg_roles r
		JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
		WHERE starts_with(r.rolname, $1) AND g.rolname = $2`, cluster.LoginPrefix, owner)
}

// drillHookAt is the harness's deps with a drill hook that, at step, reads
// the drill's record and hands it to f.
func (h *harness) drillHookAt(step jobs.Step, f func(ctx context.Context, d drills.Drill) error) jobs.Deps {
	return h.drillHook(h.deps, step, f)
}

// drillLeftNothing fails the test unless drill d's copy scratch is recorded
// dropped and gone, and no login role of owner is left.
func (h *harness) drillLeftNothing(d drills.Drill, scratch, owner string) {
	h.t.Helper()
	d = h.waitDrillID(d.ID)
	if d.ScratchState != drills.ScratchDropped {
		h.t.Fatalf("the copy is recorded %s, want dropped", d.ScratchState)
	}
	if ok, err := h.cl.Exists(context.Background(), scratch); err != nil || ok {
		h.t.Fatalf("the copy %s is left behind (%v)", scratch, err)
	}
	if left := h.loginRolesOf(owner); len(left) != 0 {
		h.t.Fatalf("login roles left behind: %v", left)
	}
}

// A drill's fixed cost is mostly connections (each a backend fork and a
// login). Counted at the cluster's door: a drill of the project on its own
// cluster opens exactly two admin connections, one to the maintenance
// database (the lookups, the create, the login role and the drop) and one
// to the copy (its shaping, the dump's extensions, the side effects and
// amcheck). Before this round it opened eleven for the demo dump (one
// extension): seven to the maintenance database and four to the copy, one
// of them a failed attempt, after the drop, to hand the login role's objects
// over. The restore's and the checks' connections are the login role's.
func TestDrillOpensTwoAdminConnectionsToItsCluster(t *testing.T) {
	t.Parallel()
	h, px := newProxiedDrillHarness(t)
	h.startRiver()
	h.capture()
	exts := h.liveExtensions()
	px.reset()
	d := h.drillNow()
	if d.Outcome != drills.OutcomePassed {
		t.Fatalf("drill through the proxy: %s %s", d.Outcome, d.Reason)
	}
	maint := px.count(func(s pgStart) bool { return isAdmin(s) && s.database == "postgres" })
	toCopy := px.count(func(s pgStart) bool { return isAdmin(s) && s.database == d.ScratchDatabase })
	logins := px.count(func(s pgStart) bool { return !isAdmin(s) })
	others := px.count(func(s pgStart) bool { return isAdmin(s) && s.database != "postgres" && s.database != d.ScratchDatabase })
	t.Logf("connections of one drill: %d to the maintenance database, %d admin to the copy (%d extensions), %d as the login role, %d elsewhere",
		maint, toCopy, exts, logins, others)
	if exts == 0 {
		t.Fatal("the demo dump creates no extension: the extensions' connection is not tested")
	}
	if maint != 1 || toCopy != 1 || others != 0 {
		t.Fatalf("a drill opened %d admin connections to the maintenance database (want 1), %d to its copy (want 1, with %d extensions), %d to other databases (want 0)",
			maint, toCopy, exts, others)
	}
	if logins == 0 {
		t.Fatal("no connection logged in as the drill's login role: the restore and the checks ran as someone else")
	}
}

// liveExtensions counts the extensions of the live database (but plpgsql):
// the ones its dump creates.
func (h *harness) liveExtensions() int {
	h.t.Helper()
	return liveQuery[int](h, h.db, `SELECT count(*)::int FROM pg_extension WHERE extname <> 'plpgsql'`)
}

// The fault: the drill fails right after CREATE DATABASE, while its login
// role, the admin's connection to the copy and the record of the copy are
// being made at once. Whatever of them was made is removed: no copy and no
// login role is left behind, and the reason names the step.
func TestDrillFailingWhileItsCopyIsMadeLeavesNoRoleOrDatabase(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	owner, err := h.cl.DatabaseOwner(context.Background(), h.db)
	if err != nil {
		t.Fatal(err)
	}
	var scratch string
	var rolesThen []string
	h.startRiverWith(h.drillHookAt(jobs.StepDrillCreating, func(ctx context.Context, d drills.Drill) error {
		scratch = d.ScratchDatabase
		rolesThen = h.loginRolesOf(owner)
		return errors.New("injected failure between the create steps")
	}))
	h.capture()
	d := h.drillNow()
	if d.Outcome != drills.OutcomeFailed || !strings.Contains(d.Reason, "drill-creating") || !strings.Contains(d.Reason, "injected failure") {
		t.Fatalf("drill failing at the create: %s %q", d.Outcome, d.Reason)
	}
	if scratch == "" || len(rolesThen) != 1 {
		t.Fatalf("at the hook: scratch %q, login roles of %s %v (want one)", scratch, owner, rolesThen)
	}
	h.drillLeftNothing(d, scratch, owner)
	if al := h.openAlarms(); len(al) != 1 || al[0].Condition != drills.CondDrillFailed {
		t.Fatalf("alarms: %+v", al)
	}
}

// The fault: the network drops the drill's two admin connections just
// before the copy is restored. The dump's extensions, whose connection is
// the copy's, are created on a new one (CREATE EXTENSION IF NOT EXISTS may
// be repeated); the copy's connection is opened again after the restore (a
// ping) for the side effects and amcheck; the drop's is opened again (its
// statements may be repeated). So the drill passes, its copy is dropped and
// its login role is gone.
func TestDrillWhoseAdminConnectionsAreCutStillChecksAndDrops(t *testing.T) {
	t.Parallel()
	h, px := newProxiedDrillHarness(t)
	owner, err := h.cl.DatabaseOwner(context.Background(), h.db)
	if err != nil {
		t.Fatal(err)
	}
	var cut int
	var scratch string
	h.startRiverWith(h.drillHookAt(jobs.StepPrepared, func(ctx context.Context, d drills.Drill) error {
		scratch = d.ScratchDatabase
		cut = px.cut(func(s pgStart) bool { return isAdmin(s) && (s.database == "postgres" || s.database == scratch) })
		return nil
	}))
	h.capture()
	d := h.drillNow()
	if cut < 2 {
		t.Fatalf("cut %d admin connections at the hook, want the drill's two", cut)
	}
	if d.Outcome != drills.OutcomePassed || d.TablesChecked == 0 || d.IndexesChecked == 0 {
		t.Fatalf("drill whose admin connections were cut: %s %q (tables %d, indexes %d)", d.Outcome, d.Reason, d.TablesChecked, d.IndexesChecked)
	}
	h.drillLeftNothing(d, scratch, owner)
}
