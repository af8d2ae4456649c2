package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CreateOwnerRole is EnsureOwnerRole that also says whether this call
// created the role (false: it existed already, and was left as it was).
func (c *Cluster) CreateOwnerRole(ctx context.Context, role string) (created bool, err error) {
	conn, err := c.admin(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return false, err
	}
	if !exists {
		_, err := conn.Exec(ctx, "CREATE ROLE "+ident(role)+" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
		switch {
		case err == nil:
			created = true
		case !isDuplicate(err):
			return false, fmt.Errorf("create owner role %s: %w", role, err)
		}
	}
	rights, err := roleRights(ctx, conn, role)
	if err != nil {
		return created, err
	}
	return created, privilegedError(role, rights)
}

// RoleExists tells whether role exists on the cluster.
func (c *Cluster) RoleExists(ctx context.Context, role string) (bool, error) {
	return adminValue[bool](ctx, c, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role)
}

// DropRoleUnlessUsed drops role when nothing on the cluster depends on it:
// it owns no database, and no object or privilege in any database names it
// (pg_shdepend, the same check DROP ROLE makes). Otherwise the role is left
// and used says what depends on it, in words; memberships do not count
// (DROP ROLE removes them). A role that does not exist is no error.
func (c *Cluster) DropRoleUnlessUsed(ctx context.Context, role string) (used string, err error) {
	conn, err := c.admin(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var oid uint32
		err := tx.QueryRow(ctx, `SELECT oid FROM pg_roles WHERE rolname = $1`, role).Scan(&oid)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if used, err = roleDependents(ctx, tx, oid); err != nil || used != "" {
			return err
		}
		_, err = tx.Exec(ctx, "DROP ROLE "+ident(role))
		var pge *pgconn.PgError
		if errors.As(err, &pge) && pge.Code == "2BP01" { // dependent objects appeared meanwhile
			used = strings.ReplaceAll(pge.Detail, "\n", "; ")
			return nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("drop role %s: %w", role, err)
	}
	return used, nil
}

// roleDependents describes what on the cluster depends on role oid, or ""
// when nothing does.
func roleDependents(ctx context.Context, q pgx.Tx, oid uint32) (string, error) {
	rows, err := q.Query(ctx, `
		SELECT coalesce(owned.datname, ''), coalesce(indb.datname, ''), count(*)
		FROM pg_shdepend s
		LEFT JOIN pg_database owned ON s.classid = 'pg_database'::regclass AND owned.oid = s.objid
		LEFT JOIN pg_database indb ON indb.oid = s.dbid
		WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1 AND s.deptype <> 'p'
		GROUP BY 1, 2 ORDER BY 1, 2`, oid)
	if err != nil {
		return "", fmt.Errorf("read what depends on the role: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var owned, in string
		var n int64
		if err := rows.Scan(&owned, &in, &n); err != nil {
			return "", err
		}
		switch {
		case owned != "":
			out = append(out, "it owns database "+owned)
		case in != "":
			out = append(out, fmt.Sprintf("%d object(s) or privilege(s) in database %s depend on it", n, in))
		default:
			out = append(out, fmt.Sprintf("%d cluster-wide object(s) (tablespaces) depend on it", n))
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return strings.Join(out, "; "), nil
}
