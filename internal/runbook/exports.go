package runbook

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// What other workers (cleanup, drills) use of the sequence's parts.

// ClusterOf is the cluster project ref lives on (its placement).
func ClusterOf(ctx context.Context, d Deps, ref string) (*cluster.Cluster, error) {
	return clusterOf(ctx, d, ref)
}

// ClusterNamed is the configured cluster of that name.
func ClusterNamed(d Deps, name string) (*cluster.Cluster, error) { return clusterNamed(d, name) }

// LiveOwner is the role owning project p's database db on cl, the role its
// dump runs as.
func LiveOwner(ctx context.Context, cl *cluster.Cluster, p snapshots.Project, db string) (string, error) {
	return liveOwner(ctx, cl, p, db)
}

// LiveOwnerOn is LiveOwner through a's held admin connection to the
// project's cluster.
func LiveOwnerOn(ctx context.Context, a *cluster.Admin, p snapshots.Project, db string) (string, error) {
	return liveOwner(ctx, a, p, db)
}

// NewOwnerRole is the owner role of a new database db.
func NewOwnerRole(db string) string { return newOwnerRole(db) }

// DropRecorded drops what rec records (it must be recorded as made), on cl,
// checking the record first.
func DropRecorded(ctx context.Context, d Deps, cl *cluster.Cluster, rec tickets.DatabaseRecord) error {
	return recorder{d: d, cl: cl, ticketID: rec.TicketID}.drop(ctx, rec)
}

// Scratch applies a snapshot into a database outside any ticket (a drill's
// scratch copy), with a restore's checks: the object's precheck, the owner
// role, the COPY row counts against the verified inventory.
type Scratch struct{ r *restoreRun }

// NewScratch prepares the scratch restore of project ref's snapshot on cl,
// run as role owner. It holds no project lock.
func NewScratch(d Deps, ref string, snapshotID int64, log *slog.Logger, cl *cluster.Cluster, owner string) *Scratch {
	noLock := func(context.Context) error { return nil }
	return &Scratch{r: &restoreRun{d: d, t: tickets.Ticket{ProjectRef: ref, SnapshotID: snapshotID}, log: log,
		cl: cl, owner: owner, alive: noLock, held: noLock}}
}

// Precheck checks snap's object and extensions before anything is made.
func (s *Scratch) Precheck(ctx context.Context, snap snapshots.Snapshot) error {
	return s.r.precheck(ctx, snap)
}

// Apply restores snap into database db on cl and checks its row counts.
func (s *Scratch) Apply(ctx context.Context, cl *cluster.Cluster, snap snapshots.Snapshot, db string) (*restore.Result, error) {
	return s.r.apply(ctx, cl, snap, db, nil)
}

// ApplyAs is Apply through sess, an owner session of db for the scratch's
// owner role made by the caller, which it leaves open: a drill checks the
// copy through the same login role and closes it once, after the drop.
func (s *Scratch) ApplyAs(ctx context.Context, cl *cluster.Cluster, snap snapshots.Snapshot, db string, sess *cluster.Session) (*restore.Result, error) {
	return s.ApplyAsOn(ctx, cl, snap, db, sess, nil)
}

// ApplyAsOn is ApplyAs whose dump's extensions are created on admin, the
// caller's admin connection to db, instead of a connection each (nil: a
// connection each).
func (s *Scratch) ApplyAsOn(ctx context.Context, cl *cluster.Cluster, snap snapshots.Snapshot, db string, sess *cluster.Session, admin *pgx.Conn) (*restore.Result, error) {
	if sess.Owner() != s.r.owner {
		return nil, fmt.Errorf("restore: the session acts as %s, the scratch restore runs as %s", sess.Owner(), s.r.owner)
	}
	s.r.session, s.r.extAdmin = sess, admin
	defer func() { s.r.session, s.r.extAdmin = nil, nil }()
	return s.r.apply(ctx, cl, snap, db, nil)
}
