package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/restoreportal/portal/internal/projects"
)

const projectUsage = `usage: portal project add --ref R --database D [--cluster C] [--owner-role O]

  Registers where project R lives: database D on project cluster C (a name
  from PORTAL_CLUSTERS / PORTAL_CLUSTERS_FILE; default "default", the
  cluster of PORTAL_PROJECTS_ADMIN_URL), owned by role O. Restores run the
  dump as O, so O must be unprivileged; without --owner-role the database's
  current owner is used, and must be unprivileged.
`

// projectCmd is `portal project add`.
func projectCmd(ctx context.Context, args []string) error {
	var r projects.Registration
	if err := parseVerb(args, "project", "add", projectUsage, func(fs *flag.FlagSet) {
		fs.StringVar(&r.Ref, "ref", "", "project ref")
		fs.StringVar(&r.Cluster, "cluster", "default", "project cluster name")
		fs.StringVar(&r.Database, "database", "", "database on that cluster")
		fs.StringVar(&r.OwnerRole, "owner-role", "", "the unprivileged role owning the database")
	}); err != nil {
		return err
	}
	rt, err := openPortal(ctx, io.Discard)
	if err != nil {
		return err
	}
	defer rt.Close()
	p, err := projects.Register(ctx, rt.Pool, rt.Config.Clusters, r)
	if err != nil {
		return err
	}
	owner := p.OwnerRole
	if owner == "" {
		owner = "(the database's owner, read at each restore)"
	}
	fmt.Printf("registered project %s: database %s on cluster %s, owner role %s\n", p.Ref, p.DatabaseName, p.Cluster, owner)
	return nil
}
