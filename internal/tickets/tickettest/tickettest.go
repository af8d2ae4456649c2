// Package tickettest has small fixtures for tests of the workflow and its
// pages: an in-memory snapshot catalog, users of each role and projects.
package tickettest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
)

// Snapshots inserts into the real catalog tables four daily snapshots of
// project (creating the project), taken at 00:00 UTC on each of the four days
// before today, oldest first; the second one is corrupt. Each verified one
// holds tables public.orders, public.customers and auth.users.
func Snapshots(t testing.TB, pool *pgxpool.Pool, project string) []tickets.Snapshot {
	t.Helper()
	ctx := context.Background()
	Project(t, pool, project)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	var out []tickets.Snapshot
	for i := 1; i <= 4; i++ {
		at := day.AddDate(0, 0, i-5)
		status, reason := "verified", ""
		if i == 2 {
			status, reason = "corrupt", "no `-- PostgreSQL database dump complete` trailer (truncated)"
		}
		var id int64
		err := pool.QueryRow(ctx, `INSERT INTO snapshots (project_ref, key, size, taken_at, status, reason, verified_at)
			VALUES ($1, $2, $3, $4, $5, $6, now()) RETURNING id`,
			project, fmt.Sprintf("snapshots/%s/%s.sql.gz", project, at.Format("2006-01-02T15-04-05Z")), 1000*i, at, status, reason).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		if status == "verified" {
			for pos, tb := range []tickets.Table{{Schema: "public", Name: "orders", Rows: int64(120 * i)},
				{Schema: "public", Name: "customers", Rows: 40}, {Schema: "auth", Name: "users", Rows: 7}} {
				if _, err := pool.Exec(ctx, `INSERT INTO snapshot_tables (snapshot_id, position, schema_name, table_name, rows, bytes, has_data)
					VALUES ($1, $2, $3, $4, $5, $6, true)`, id, pos, tb.Schema, tb.Name, tb.Rows, tb.Rows*50); err != nil {
					t.Fatal(err)
				}
			}
		}
		out = append(out, tickets.Snapshot{ID: id, ProjectRef: project, TakenAt: at, SizeBytes: int64(1000 * i), Usable: status == "verified", Reason: reason})
	}
	return out
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
