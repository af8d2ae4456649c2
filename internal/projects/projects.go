// Package projects registers where a project lives: the project cluster, the
// database there and the role that owns it, which restores run the dump as.
// Registration is validated against the cluster itself: the cluster must be
// configured, the database must exist there, and the owner role must be
// unprivileged (no SUPERUSER, CREATEROLE, CREATEDB, BYPASSRLS, REPLICATION,
// no membership in predefined or privileged roles).
package projects

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
)

// Registration is what staff give to register a project.
type Registration struct {
	Ref       string `json:"ref"`
	Cluster   string `json:"cluster"`    // empty: "default"
	Database  string `json:"database"`   // on that cluster
	OwnerRole string `json:"owner_role"` // empty: the database's current owner, which must be unprivileged
}

// ValidationError is a registration refused for a reason a person can fix;
// Field names what to change.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Msg }

var refRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// Register validates r against its cluster (from clusters, name -> admin
// URL) and records it. A project known already (discovered in S3, say) is
// moved to the registered placement.
func Register(ctx context.Context, db snapshots.DB, clusters map[string]string, r Registration) (snapshots.Project, error) {
	if r.Cluster == "" {
		r.Cluster = cluster.Default
	}
	if !refRE.MatchString(r.Ref) {
		return snapshots.Project{}, &ValidationError{"ref", fmt.Sprintf("%q is not a project ref (lowercase letters, digits and -, 2 to 63 characters)", r.Ref)}
	}
	if r.Database == "" || len(r.Database) > 63 {
		return snapshots.Project{}, &ValidationError{"database", "give the database's name on the cluster (at most 63 bytes)"}
	}
	if len(r.OwnerRole) > 63 {
		return snapshots.Project{}, &ValidationError{"owner_role", "a role name has at most 63 bytes"}
	}
	reg, err := cluster.NewRegistry(clusters)
	if err != nil {
		return snapshots.Project{}, err
	}
	cl, err := reg.Get(r.Cluster)
	if errors.Is(err, cluster.ErrUnknownCluster) {
		return snapshots.Project{}, &ValidationError{"cluster", fmt.Sprintf("cluster %q is not configured (configured: %v)", r.Cluster, reg.Names())}
	}
	if err != nil {
		return snapshots.Project{}, err
	}
	exists, err := cl.Exists(ctx, r.Database)
	if err != nil {
		return snapshots.Project{}, fmt.Errorf("cluster %s: %w", r.Cluster, err)
	}
	if !exists {
		return snapshots.Project{}, &ValidationError{"database", fmt.Sprintf("database %s does not exist on cluster %s", r.Database, r.Cluster)}
	}
	role, field := r.OwnerRole, "owner_role"
	if role == "" {
		if role, err = cl.DatabaseOwner(ctx, r.Database); err != nil {
			return snapshots.Project{}, err
		}
		field = "owner_role (none given: the database's owner " + role + " was checked)"
	}
	if err := cl.CheckOwnerRole(ctx, role); err != nil {
		if errors.Is(err, cluster.ErrPrivilegedRole) || errors.Is(err, cluster.ErrNoRole) {
			return snapshots.Project{}, &ValidationError{field, err.Error()}
		}
		return snapshots.Project{}, err
	}
	return snapshots.ProjectRegister(ctx, db, snapshots.ProjectPlacement{
		Ref: r.Ref, Cluster: r.Cluster, Database: r.Database, OwnerRole: r.OwnerRole,
	})
}
