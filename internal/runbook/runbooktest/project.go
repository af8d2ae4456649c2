// Package runbooktest is the shared fixture of the restore sequence's tests
// (internal/runbook, step by step without River, and internal/jobs, through
// the real workers): one project with a live database on the projects
// cluster, registered in a portal database of its own, with a bucket and the
// staff a destructive restore needs.
package runbooktest

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// Project is one project for a restore test.
type Project struct {
	T      testing.TB
	Config config.Config // the stack's, with the project's bucket and PORTAL_APPLY_JOBS 2
	// PortalURL reaches Pool's database, for worker processes.
	PortalURL string
	Pool      *pgxpool.Pool
	S3        *s3.Client
	Cluster   *cluster.Cluster
	// ClusterName is the project's cluster, reached at AdminURL as its
	// superuser.
	ClusterName, AdminURL string
	Ref                   string
	DB                    string // the live database
	// LiveURL reaches the live database as the demo made it.
	LiveURL            string
	Operator, Approver tickets.Actor
}

// RandomRef is a fresh project ref, proj-<10 hex digits>.
func RandomRef() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return fmt.Sprintf("proj-%x", b)
}

// New builds project ref: its live database with two days of demo changes,
// registered in a fresh portal database, a bucket, and an operator and an
// approver (op-<ref>@, ap-<ref>@example.com). edit, if not nil, changes the
// configuration first (another project cluster, say). The databases and
// roles it and the test make for the project are dropped when the test
// ends.
func New(t testing.TB, ref string, edit func(*config.Config)) *Project {
	t.Helper()
	return NewOn(t, ref, cluster.Default, "", edit)
}

// NewOn is New with the project on cluster name, reached at adminURL (a
// second configured cluster, added to the configuration's clusters; "" is
// the stack's project cluster).
func NewOn(t testing.TB, ref, name, adminURL string, edit func(*config.Config)) *Project {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.Config(t)
	if edit != nil {
		edit(&cfg)
	}
	if adminURL == "" {
		adminURL = cfg.ProjectsAdminURL
	} else {
		cfg.Clusters = map[string]string{cluster.Default: cfg.ProjectsAdminURL, name: adminURL}
	}
	s3c, bucket := testenv.S3(t)
	cfg.S3.Bucket = bucket
	cfg.Worker.ApplyJobs = 2
	portalURL := testenv.PortalURL(t)
	pool, err := database.Open(ctx, portalURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reg, err := cluster.NewRegistry(map[string]string{name: adminURL})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := reg.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	p := &Project{T: t, Config: cfg, PortalURL: portalURL, Pool: pool, S3: s3c, Cluster: cl, ClusterName: name, AdminURL: adminURL,
		Ref: ref, DB: demo.DatabaseName(ref)}
	t.Cleanup(p.DropDatabases)
	if p.LiveURL, err = demo.CreateDatabase(ctx, adminURL, p.DB); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, p.LiveURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for day := 0; day < 2; day++ {
		if err := demo.ChangeDay(ctx, conn, ref, day); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source, cluster) VALUES ($1, $2, 'registered', $3)`, ref, p.DB, name); err != nil {
		t.Fatal(err)
	}
	op := tickettest.User(t, pool, "op-"+ref+"@example.com", auth.RoleOperator)
	ap := tickettest.User(t, pool, "ap-"+ref+"@example.com", auth.RoleApprover)
	p.Operator, p.Approver = tickets.UserActor(op, "test"), tickets.UserActor(ap, "test")
	return p
}

// DropDatabases drops every database of the project (live, staging, kept,
// scratch: all named after the live one) and the owner roles made for them,
// after the restore login roles a killed worker left as their members.
func (p *Project) DropDatabases() {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.AdminURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE $1`, p.DB+"%")
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
	rows, _ = conn.Query(ctx, `SELECT r.rolname FROM pg_roles r
		JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
		WHERE starts_with(r.rolname, 'portal_restore_') AND g.rolname LIKE $1
		UNION ALL
		SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, p.DB+"%_owner")
	roles, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, r := range roles {
		_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
	}
}

// Checksum is the cluster's checksum of database db (its tables' rows and
// definitions).
func (p *Project) Checksum(db string) string {
	p.T.Helper()
	s, err := p.Cluster.Checksum(context.Background(), db)
	if err != nil {
		p.T.Fatal(err)
	}
	return s
}
