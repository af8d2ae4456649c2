package tickets

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
)

// Databases looks database names up on the project cluster;
// *cluster.Cluster satisfies it.
type Databases interface {
	Exists(ctx context.Context, name string) (bool, error)
}

// clusterNameOf is the name of the cluster dbs looks at, when it has one
// (a *cluster.Cluster has), else DefaultCluster.
func clusterNameOf(dbs Databases) string {
	if n, ok := dbs.(interface{ Name() string }); ok && n.Name() != "" {
		return n.Name()
	}
	return DefaultCluster
}

// MaxKeepDays bounds Options.KeepDays.
const MaxKeepDays = 90

// MaxScopeTables bounds the tables one ticket names.
const MaxScopeTables = 1000

// reservedDatabases are never restore targets, nor live databases a
// destructive restore renames.
var reservedDatabases = []string{"postgres", "template0", "template1"}

// validateOptions bounds every number and checks every name of the options,
// as they come from a form, the API or a mail.
func validateOptions(o Options) error {
	if o.KeepDays < 0 || o.KeepDays > MaxKeepDays {
		return &ValidationError{Field: "keep_days", Msg: fmt.Sprintf("%d is not between 1 and %d days (leave it empty for the default)", o.KeepDays, MaxKeepDays)}
	}
	if o.TargetRef != "" && !projectRef.MatchString(o.TargetRef) {
		return &ValidationError{Field: "target_ref", Msg: fmt.Sprintf("%q is not a project ref", o.TargetRef)}
	}
	return nil
}

// reservedName says why name can never be touched by a restore ("" when it
// may): the cluster's own databases and the portal's.
func reservedName(ctx context.Context, db DB, name string) (string, error) {
	if slices.Contains(reservedDatabases, name) {
		return fmt.Sprintf("database %s is one of the cluster's own databases", name), nil
	}
	portal, err := portalDatabase(ctx, db)
	if err != nil {
		return "", err
	}
	if name == portal {
		return fmt.Sprintf("database %s is the portal's own database", name), nil
	}
	return "", nil
}

// CheckLiveDatabase refuses a destructive restore of a project whose
// registered database is one the portal must never rename.
func CheckLiveDatabase(ctx context.Context, db DB, name string) error {
	why, err := reservedName(ctx, db, name)
	if err != nil {
		return err
	}
	if why != "" {
		return &ValidationError{Field: "mode", Msg: why + ": a destructive restore cannot replace it"}
	}
	return nil
}

// CheckNewProjectTarget says whether the new-project restore of t may create
// its target: the target ref is no existing project, and its database is not
// reserved, not a registered project's, not recorded for another ticket (a
// kept copy, a staging database) and, when dbs is given, does not exist on the
// cluster. A database recorded as this ticket's own new project (an earlier
// attempt's) passes. Refusals are *ValidationError on field target_ref.
func CheckNewProjectTarget(ctx context.Context, db DB, dbs Databases, t Ticket) error {
	ref := t.TargetRef()
	refuse := func(format string, args ...any) error {
		return &ValidationError{Field: "target_ref", Msg: fmt.Sprintf(format, args...)}
	}
	if !projectRef.MatchString(ref) {
		return refuse("%q is not a project ref", ref)
	}
	if ref == t.ProjectRef {
		return refuse("%s is the project being restored: a new-project restore needs a new ref", ref)
	}
	name := cluster.NewProjectDatabase(ref)
	on := clusterNameOf(dbs)
	rec, ok, err := DatabaseRecordActiveOn(ctx, db, on, name, "")
	if err != nil {
		return err
	}
	if ok {
		if rec.TicketID == t.ID && rec.Purpose == PurposeNewProject {
			return nil
		}
		return refuse("database %s is recorded as the %s of ticket %d: a new-project restore needs a new name", name, rec.Purpose, rec.TicketID)
	}
	if why, err := reservedName(ctx, db, name); err != nil {
		return err
	} else if why != "" {
		return refuse("%s: a new-project restore needs a new name", why)
	}
	owner, err := projectOwning(ctx, db, ref, name)
	switch {
	case err == nil && owner == ref:
		return refuse("project %s exists already: choose another target ref", ref)
	case err == nil:
		return refuse("database %s is the database of project %s: a new-project restore needs a new name", name, owner)
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	if dbs != nil {
		exists, err := dbs.Exists(ctx, name)
		if err != nil {
			return fmt.Errorf("look up database %s on the project cluster: %w", name, err)
		}
		if exists {
			return refuse("database %s already exists on cluster %s: a new-project restore needs a new name", name, on)
		}
	}
	return nil
}

// SnapshotCatalogOn is SnapshotCatalog that also looks target databases up
// on the project cluster (Prepare refuses a new-project target that exists).
func SnapshotCatalogOn(db snapshots.DB, dbs Databases) Catalog {
	return snapshotCatalog{db: db, dbs: dbs}
}

// ClusterLookup returns the cluster project ref lives on (its registered
// cluster), for the checks Prepare makes there.
type ClusterLookup func(ctx context.Context, projectRef string) (Databases, error)

// SnapshotCatalogFor is SnapshotCatalog that looks a new-project target
// database up on the cluster of the ticket's project, found by lookup.
func SnapshotCatalogFor(db snapshots.DB, lookup ClusterLookup) Catalog {
	return snapshotCatalog{db: db, lookup: lookup}
}

// clusterFor is the cluster a catalog looks project ref's databases up on:
// its lookup's answer, else clusterOf. A project whose cluster is not
// configured gets none (the worker refuses its restore, naming the cluster).
func clusterFor(ctx context.Context, cat Catalog, ref string) Databases {
	if c, ok := cat.(snapshotCatalog); ok && c.lookup != nil {
		dbs, err := c.lookup(ctx, ref)
		if err != nil {
			return nil
		}
		return dbs
	}
	return clusterOf(cat)
}

// clusterOf is the cluster lookup a catalog carries, if any.
func clusterOf(cat Catalog) Databases {
	if c, ok := cat.(snapshotCatalog); ok && c.dbs != nil {
		return c.dbs
	}
	if d, ok := cat.(Databases); ok {
		return d
	}
	return nil
}

// checkTarget checks what a prepared restore of t will create or replace.
func checkTarget(ctx context.Context, db DB, dbs Databases, t Ticket) error {
	if t.Mode == ModeNewProject {
		return CheckNewProjectTarget(ctx, db, dbs, t)
	}
	live, err := projectDatabaseName(ctx, db, t.ProjectRef)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && live == nil {
		return nil // the worker refuses a project without a database, with its reason
	}
	if err != nil {
		return err
	}
	return CheckLiveDatabase(ctx, db, *live)
}
