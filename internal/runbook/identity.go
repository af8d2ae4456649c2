package runbook

import (
	"bufio"
	"context"
	"errors"
	"fmt"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
)

// A restore's identity: which cluster it runs on, and as which role the dump
// runs there. No statement of a dump ever runs as a superuser (see
// internal/cluster/roles.go).

// clusterOf is the project cluster of project ref: its registered cluster,
// or the default one for a project the portal has no row for.
func clusterOf(ctx context.Context, d Deps, ref string) (*cluster.Cluster, error) {
	name := cluster.Default
	p, err := snapshots.ProjectGet(ctx, d.Pool, ref)
	switch {
	case err == nil && p.Cluster != "":
		name = p.Cluster
	case err != nil && !errors.Is(err, snapshots.ErrNotFound):
		return nil, err
	}
	return clusterNamed(d, name)
}

func clusterNamed(d Deps, name string) (*cluster.Cluster, error) {
	urls := d.Config.Clusters
	if urls == nil { // a Config not made by config.Load
		urls = map[string]string{cluster.Default: d.Config.ProjectsAdminURL}
	}
	reg, err := cluster.NewRegistry(urls)
	if err != nil {
		return nil, err
	}
	return reg.Get(name)
}

// ownerLookup reads a database's owner and a role's rights: a
// *cluster.Cluster (a connection per step) or a *cluster.Admin (one held
// connection).
type ownerLookup interface {
	Name() string
	DatabaseOwner(ctx context.Context, db string) (string, error)
	CheckOwnerRole(ctx context.Context, role string) error
}

// liveOwner is the role a restore of project p's live database db runs the
// dump as: the registered owner role, or else the database's current owner.
// A privileged one is refused before anything changes.
func liveOwner(ctx context.Context, cl ownerLookup, p snapshots.Project, db string) (string, error) {
	owner := p.OwnerRole
	if owner == "" {
		o, err := cl.DatabaseOwner(ctx, db)
		if err != nil {
			return "", err
		}
		owner = o
	}
	if err := cl.CheckOwnerRole(ctx, owner); err != nil {
		if p.OwnerRole == "" && errors.Is(err, cluster.ErrPrivilegedRole) {
			return "", fmt.Errorf("database %s is owned by %s, which is privileged; a restore never runs a dump with such rights: register the project's unprivileged owner role (portal project add --ref %s --cluster %s --database %s --owner-role ROLE): %w",
				db, owner, p.Ref, cl.Name(), db, err)
		}
		return "", fmt.Errorf("project %s: %w", p.Ref, err)
	}
	return owner, nil
}

// newOwnerRole is the owner role of a database a new-project restore makes.
func newOwnerRole(db string) string { return cluster.OwnerRoleFor(db) }

// checkExtensions reads the snapshot's pre-data and fails, naming them, when
// it creates extensions outside PORTAL_EXTENSIONS_ALLOW: before anything is
// changed on the cluster.
func (r *restoreRun) checkExtensions(ctx context.Context, snap snapshots.Snapshot) error {
	src, err := snapshots.OpenVerified(ctx, r.d.snapshots(), snap, r.d.enqueueVerify) // the version the restore reads
	if err != nil {
		return err
	}
	defer src.Close()
	gz, err := seekgz.NewReader(bufio.NewReaderSize(src, 1<<20))
	if err != nil {
		return fmt.Errorf("snapshot %s: not gzip: %w", snap.Key, err)
	}
	exts, err := restore.Extensions(gz)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", snap.Key, err)
	}
	names := make([]string, len(exts))
	for i, x := range exts {
		names[i] = x.Name
	}
	return cluster.CheckExtensions(names, r.d.Config.ExtensionsAllow)
}

// applyOptions makes the dump run as owner on database db: a short-lived
// login role that is only a member of owner logs in, every connection sets
// the owner role, and allowlisted extensions are created by the admin.
// closeSession drops the login role, handing what it owns to owner.
func (r *restoreRun) applyOptions(ctx context.Context, cl *cluster.Cluster, db, owner string) (opts restore.Options, closeSession func(), err error) {
	if owner == "" {
		return restore.Options{}, nil, errors.New("restore: no owner role to run the dump as")
	}
	s, own := r.session, r.session == nil
	if own {
		if s, err = cl.OwnerSession(ctx, db, owner); err != nil {
			return restore.Options{}, nil, err
		}
	}
	allow := r.d.Config.ExtensionsAllow
	opts = restore.Options{
		DatabaseURL:       s.URL(),
		Role:              owner,
		ExtensionsAllowed: allow,
		CreateExtension: func(ctx context.Context, x restore.Extension) error {
			if admin := r.extAdmin; admin != nil {
				err := cluster.CreateExtensionOn(ctx, admin, db, x.Name, x.Schema, allow)
				if err == nil || !admin.IsClosed() || ctx.Err() != nil {
					return err
				}
				// The connection was lost: a new one, as without it (CREATE
				// EXTENSION IF NOT EXISTS may be repeated).
			}
			return cl.CreateExtension(ctx, db, x.Name, x.Schema, allow)
		},
	}
	return opts, func() {
		if !own {
			return // the caller's, closed by the caller
		}
		if err := s.Close(ctx); err != nil {
			r.log.Error("could not drop the restore's login role", "role", s.Login(), "err", err)
		}
	}, nil
}

// liveOwnerRole is the owner role of the ticket's project's live database.
func (r *restoreRun) liveOwnerRole(ctx context.Context, cl *cluster.Cluster, live string) (string, error) {
	p, err := snapshots.ProjectGet(ctx, r.d.Pool, r.t.ProjectRef)
	if err != nil {
		return "", fmt.Errorf("project %s: %w", r.t.ProjectRef, err)
	}
	return liveOwner(ctx, cl, p, live)
}

// newProjectOwner makes the owner role of a new-project restore's database
// db and sets r.owner. The source project's owner role, when it has one
// that is unprivileged, is made a member, so the customer's role can use the
// new database at once.
func (r *restoreRun) newProjectOwner(ctx context.Context, cl *cluster.Cluster, db string) error {
	r.owner = newOwnerRole(db)
	if err := r.claimOwnerRole(ctx, cl, r.owner); err != nil { // roles.go
		return err
	}
	p, err := snapshots.ProjectGet(ctx, r.d.Pool, r.t.ProjectRef)
	if err != nil || p.DatabaseName == "" {
		return nil // a project known only from S3: no customer role to add
	}
	src := p.OwnerRole
	if src == "" {
		if src, err = cl.DatabaseOwner(ctx, p.DatabaseName); err != nil {
			r.log.Warn("source project's database owner unknown; the new project's role gets no member", "err", err)
			return nil
		}
	}
	if err := cl.CheckOwnerRole(ctx, src); err != nil {
		r.log.Warn("source project's owner role is not made a member of the new project's", "role", src, "err", err)
		return nil
	}
	return cl.GrantRole(ctx, r.owner, src)
}
