// Package tickettest has small fixtures for tests of the workflow and its
// pages: an in-memory snapshot catalog, users of each role and projects.
package tickettest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
)

// Catalog is an in-memory tickets.Catalog.
type Catalog struct {
	mu        sync.Mutex
	snapshots map[int64]tickets.Snapshot
	tables    map[int64][]tickets.Table
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{snapshots: map[int64]tickets.Snapshot{}, tables: map[int64][]tickets.Table{}}
}

// Add puts a snapshot and its tables in the catalog.
func (c *Catalog) Add(s tickets.Snapshot, tables ...tickets.Table) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snapshots[s.ID] = s
	c.tables[s.ID] = tables
}

// Standard adds, for project, daily usable snapshots ids base+1..base+4 at
// 00:00 UTC of the four days before now, the second oldest corrupt, each
// with tables public.orders, public.customers and auth.users.
func (c *Catalog) Standard(project string, base int64) []tickets.Snapshot {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	var out []tickets.Snapshot
	for i := int64(1); i <= 4; i++ {
		s := tickets.Snapshot{ID: base + i, ProjectRef: project, TakenAt: day.AddDate(0, 0, int(i)-5), SizeBytes: 1000 * i, Usable: true}
		if i == 2 {
			s.Usable, s.Reason = false, "no `-- PostgreSQL database dump complete` trailer (truncated)"
		}
		c.Add(s, tickets.Table{Schema: "public", Name: "orders", Rows: 120 * i}, tickets.Table{Schema: "public", Name: "customers", Rows: 40},
			tickets.Table{Schema: "auth", Name: "users", Rows: 7})
		out = append(out, s)
	}
	return out
}

func (c *Catalog) SnapshotGet(_ context.Context, id int64) (tickets.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.snapshots[id]
	if !ok {
		return tickets.Snapshot{}, fmt.Errorf("snapshot %d: not found", id)
	}
	return s, nil
}

func (c *Catalog) SnapshotTables(_ context.Context, id int64) ([]tickets.Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tables[id], nil
}

func (c *Catalog) SnapshotsNear(_ context.Context, project string, at time.Time, n int) (tickets.Snapshot, bool, []tickets.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []tickets.Snapshot
	for _, s := range c.snapshots {
		if s.ProjectRef == project {
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].TakenAt.After(all[j].TakenAt) })
	idx := -1
	for i, s := range all {
		if !s.TakenAt.After(at) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return tickets.Snapshot{}, false, all[:min(n, len(all))], nil
	}
	lo, hi := max(0, idx-n), min(len(all), idx+n+1)
	return all[idx], true, all[lo:hi], nil
}

// Project inserts a project row.
func Project(t testing.TB, pool *pgxpool.Pool, ref string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `INSERT INTO projects (ref, database_name, source) VALUES ($1, $1, 'registered') ON CONFLICT DO NOTHING`, ref); err != nil {
		t.Fatal(err)
	}
}

// Password is the password of every user made by User.
const Password = "correct horse battery staple"

// User creates a user of the role, with Password.
func User(t testing.TB, pool *pgxpool.Pool, email string, role auth.Role) auth.User {
	t.Helper()
	u, _, err := auth.CreateUser(context.Background(), pool, audit.System("test"), auth.NewUser{Email: email, Role: role, Password: Password})
	if err != nil {
		t.Fatal(err)
	}
	return u
}
