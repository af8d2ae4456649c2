package restore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/testenv"
)

func TestParseExtension(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sql          string
		name, schema string
		ok           bool
	}{
		{"CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA extensions;", "citext", "extensions", true},
		{`CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA "my ""ext""";`, "uuid-ossp", `my "ext"`, true},
		{"CREATE EXTENSION IF NOT EXISTS pg_trgm;", "pg_trgm", "", true},
		{"CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA extensions CASCADE;", "", "", false},
		{"CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA extensions VERSION '1.0';", "", "", false},
		{"CREATE EXTENSION IF NOT EXISTS citext; ALTER ROLE x SUPERUSER;", "", "", false},
		{"CREATE EXTENSION dblink;", "", "", false},
	} {
		x, err := restore.ParseExtension(tc.sql)
		if tc.ok != (err == nil) || x.Name != tc.name || x.Schema != tc.schema {
			t.Errorf("%s: %+v, %v", tc.sql, x, err)
		}
		if err != nil && !errors.Is(err, restore.ErrExtension) {
			t.Errorf("%s: error does not wrap ErrExtension: %v", tc.sql, err)
		}
	}
}

// TestApplyAsOwnerRole applies a real dump as an unprivileged owner through
// a cluster.Session: everything comes back owned by the owner, allowlisted
// extensions are made by the admin, COMMENT ON EXTENSION is skipped with a
// warning, and an extension outside the list fails the restore naming it.
func TestApplyAsOwnerRole(t *testing.T) {
	t.Parallel()
	dump := pgDump(t, sourceDatabase(t))
	exts, err := restore.Extensions(strings.NewReader(dump))
	if err != nil || len(exts) != 2 || exts[0].Name != "citext" || exts[1].Name != "pgcrypto" || exts[0].Schema != "extensions" {
		t.Fatalf("pre-scan: %+v, %v", exts, err)
	}
	ctx := context.Background()
	c, err := cluster.New(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	run := func(allow []string) (testenv.OwnedDatabase, *restore.Result, error) {
		db := testenv.NewOwnedDatabase(t)
		s, err := c.OwnerSession(ctx, db.Name, db.Owner)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := s.Close(ctx); err != nil {
				t.Error(err)
			}
		}()
		res, err := apply(t, dump, s.URL(), restore.Options{Jobs: 2, Role: db.Owner, ExtensionsAllowed: allow,
			CreateExtension: func(ctx context.Context, x restore.Extension) error {
				return c.CreateExtension(ctx, db.Name, x.Name, x.Schema, allow)
			}})
		return db, res, err
	}

	db, res, err := run([]string{"citext", "pgcrypto"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "COMMENT ON EXTENSION citext") {
		t.Errorf("warnings %q, want the two extension comments skipped", res.Warnings)
	}
	var notOwned []string
	conn, err := c.Connect(ctx, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT c.oid::regclass::text || ' owned by ' || pg_get_userbyid(c.relowner) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND c.relowner <> $1::regrole
		UNION ALL
		SELECT p.oid::regprocedure::text || ' owned by ' || pg_get_userbyid(p.proowner) FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.proowner <> $1::regrole
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`, db.Owner)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		notOwned = append(notOwned, s)
	}
	if len(notOwned) > 0 {
		t.Errorf("not owned by %s: %v", db.Owner, notOwned)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_extension WHERE extname IN ('citext', 'pgcrypto')`).Scan(&n); err != nil || n != 2 {
		t.Errorf("extensions made: %d, %v", n, err)
	}

	_, _, err = run([]string{"citext"})
	if !errors.Is(err, restore.ErrExtension) || !strings.Contains(err.Error(), "pgcrypto") {
		t.Fatalf("pgcrypto outside the allowlist: %v", err)
	}
}
