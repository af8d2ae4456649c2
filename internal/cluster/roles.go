package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/dbx"
)

// A customer controls every byte of a dump, and a dump runs code: functions
// reached from CHECK constraints, index expressions, triggers, defaults and
// materialized views. So no statement of a dump ever runs as a superuser:
// each runs as the project's owner role, a role that owns the project's
// database and has no other rights. The admin (superuser) connection only
// creates, renames and drops databases and roles, and creates allowlisted
// extensions.

// ErrPrivilegedRole means a role has rights beyond owning its database:
// SUPERUSER, CREATEROLE, CREATEDB, BYPASSRLS, REPLICATION, or membership in
// a role that has them or in a predefined role (pg_read_server_files, ...).
var ErrPrivilegedRole = errors.New("role is privileged")

// ErrNoRole means a role does not exist on the cluster.
var ErrNoRole = errors.New("role does not exist")

// RoleRights lists what makes a role more than a database owner; empty means
// the role is safe to restore as.
func (c *Cluster) RoleRights(ctx context.Context, role string) ([]string, error) {
	return withAdmin(ctx, c, func(a *Admin) ([]string, error) { return a.RoleRights(ctx, role) })
}

// RoleRights is Cluster.RoleRights on a's connection.
func (a *Admin) RoleRights(ctx context.Context, role string) (rights []string, err error) {
	err = a.again(ctx, func(conn *pgx.Conn) error {
		rights, err = roleRights(ctx, conn, role)
		return err
	})
	return rights, err
}

// roleRights reads the rights of role and of every role it is a member of,
// directly or through others (whatever it could SET ROLE to or inherit).
func roleRights(ctx context.Context, q dbx.DBTX, role string) ([]string, error) {
	rows, err := q.Query(ctx, `
		WITH RECURSIVE granted(oid) AS (
			SELECT oid FROM pg_roles WHERE rolname = $1
			UNION
			SELECT m.roleid FROM pg_auth_members m JOIN granted g ON m.member = g.oid
		)
		SELECT r.rolname, r.oid = (SELECT oid FROM pg_roles WHERE rolname = $1),
		       r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication
		FROM granted g JOIN pg_roles r ON r.oid = g.oid
		ORDER BY 2 DESC, 1`, role)
	if err != nil {
		return nil, fmt.Errorf("read rights of role %s: %w", role, err)
	}
	defer rows.Close()
	var out []string
	found := false
	for rows.Next() {
		var name string
		var self, super, createRole, createDB, bypassRLS, replication bool
		if err := rows.Scan(&name, &self, &super, &createRole, &createDB, &bypassRLS, &replication); err != nil {
			return nil, err
		}
		if self {
			found = true
		}
		who := ""
		if !self {
			who = " (through membership in " + name + ")"
			if strings.HasPrefix(name, "pg_") {
				// Predefined roles carry rights the attributes do not show:
				// pg_read_server_files, pg_execute_server_program, ...
				out = append(out, "member of "+name)
			}
		}
		for _, a := range []struct {
			on   bool
			name string
		}{{super, "SUPERUSER"}, {createRole, "CREATEROLE"}, {createDB, "CREATEDB"}, {bypassRLS, "BYPASSRLS"}, {replication, "REPLICATION"}} {
			if a.on {
				out = append(out, a.name+who)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrNoRole, role)
	}
	return out, nil
}

// CheckOwnerRole returns nil when role exists and has no rights beyond what
// it owns, and otherwise an error wrapping ErrNoRole or ErrPrivilegedRole
// that names what is wrong. A restore refuses to start on such a role.
func (c *Cluster) CheckOwnerRole(ctx context.Context, role string) error {
	rights, err := c.RoleRights(ctx, role)
	if err != nil {
		return err
	}
	return privilegedError(role, rights)
}

// CheckOwnerRole is Cluster.CheckOwnerRole on a's connection.
func (a *Admin) CheckOwnerRole(ctx context.Context, role string) error {
	rights, err := a.RoleRights(ctx, role)
	if err != nil {
		return err
	}
	return privilegedError(role, rights)
}

func privilegedError(role string, rights []string) error {
	if len(rights) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s has %s; a dump must run as a role that owns its database and nothing else (register an unprivileged owner role for the project)",
		ErrPrivilegedRole, role, strings.Join(rights, ", "))
}

// EnsureOwnerRole creates role as an owner role (NOLOGIN, no attributes) if
// it does not exist, then checks it is unprivileged. An existing role is
// never changed (its password in particular).
func (c *Cluster) EnsureOwnerRole(ctx context.Context, role string) error {
	return c.withAdminDo(ctx, func(a *Admin) error { return a.EnsureOwnerRole(ctx, role) })
}

// EnsureOwnerRole is Cluster.EnsureOwnerRole on a's connection.
func (a *Admin) EnsureOwnerRole(ctx context.Context, role string) error {
	return a.again(ctx, func(conn *pgx.Conn) error { return ensureOwnerRole(ctx, conn, role) })
}

func ensureOwnerRole(ctx context.Context, conn *pgx.Conn, role string) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		_, err := conn.Exec(ctx, "CREATE ROLE "+ident(role)+" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
		if err != nil && !isDuplicate(err) {
			return fmt.Errorf("create owner role %s: %w", role, err)
		}
	}
	rights, err := roleRights(ctx, conn, role)
	if err != nil {
		return err
	}
	return privilegedError(role, rights)
}

// DatabaseOwner is the role owning database name.
func (c *Cluster) DatabaseOwner(ctx context.Context, name string) (string, error) {
	return withAdmin(ctx, c, func(a *Admin) (string, error) { return a.DatabaseOwner(ctx, name) })
}

// DatabaseOwner is Cluster.DatabaseOwner on a's connection.
func (a *Admin) DatabaseOwner(ctx context.Context, name string) (owner string, err error) {
	err = a.again(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, name).Scan(&owner)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("database %s does not exist on the cluster", name)
	}
	return owner, err
}

// CreateOwned makes an empty database owned by owner, shaped as a fresh
// project's: owner may create in schema public (on Postgres 15 public is
// owned by pg_database_owner, so by owner; older servers hand it over).
func (c *Cluster) CreateOwned(ctx context.Context, name, owner string) error {
	return c.withAdminDo(ctx, func(a *Admin) error {
		if err := a.CreateOwnedDatabase(ctx, name, owner); err != nil {
			return err
		}
		db, err := c.Connect(ctx, name)
		if err != nil {
			return err
		}
		defer db.Close(ctx)
		return ShapeOwned(ctx, db, name, owner)
	})
}

// CreateOwnedDatabase is the first half of CreateOwned on a's connection:
// CREATE DATABASE name OWNER owner. It is not retried on a lost connection
// (whether the database was made is then unknown). The caller connects to
// the new database and finishes with ShapeOwned.
func (a *Admin) CreateOwnedDatabase(ctx context.Context, name, owner string) error {
	conn, err := a.live(ctx)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)+" OWNER "+ident(owner)+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// ShapeOwned is the second half of CreateOwned, on db, an admin connection
// to the new database name: owner may create in its schema public.
func ShapeOwned(ctx context.Context, db *pgx.Conn, name, owner string) error {
	var can bool
	if err := db.QueryRow(ctx, `SELECT has_schema_privilege($1, 'public', 'CREATE')`, owner).Scan(&can); err != nil {
		return fmt.Errorf("database %s: schema public: %w", name, err)
	}
	if !can {
		if _, err := db.Exec(ctx, "ALTER SCHEMA public OWNER TO "+ident(owner)); err != nil {
			return fmt.Errorf("database %s: give schema public to %s: %w", name, owner, err)
		}
	}
	return nil
}

// CreateExtension creates extension name in schema (empty: the default) of
// database db with the admin connection, if allowed lists it. The
// statement is built here from the two names, never taken from a dump.
func (c *Cluster) CreateExtension(ctx context.Context, db, name, schema string, allowed []string) error {
	if !extensionAllowed(name, allowed) {
		return fmt.Errorf("%w: %s (allowed: %s)", ErrExtensionRefused, name, strings.Join(allowed, ", "))
	}
	conn, err := c.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return CreateExtensionOn(ctx, conn, db, name, schema, allowed)
}

// CreateExtensionOn is CreateExtension on conn, the caller's admin
// connection to database db.
func CreateExtensionOn(ctx context.Context, conn *pgx.Conn, db, name, schema string, allowed []string) error {
	if !extensionAllowed(name, allowed) {
		return fmt.Errorf("%w: %s (allowed: %s)", ErrExtensionRefused, name, strings.Join(allowed, ", "))
	}
	// The install script runs as the superuser with the target schema on its
	// search_path: objects the customer put there first (a function matching
	// a call better than pg_catalog's, an operator) would run as it. pg_dump
	// writes extensions right after the schemas, so the schema holds none.
	target := schema
	if target == "" {
		if err := conn.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&target); err != nil {
			return err
		}
	}
	if target != "" {
		var objs []string
		rows, err := conn.Query(ctx, `
			WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $1)
			SELECT kind || ' ' || name FROM (
				SELECT 'function' AS kind, proname::text AS name, proowner AS owner FROM pg_proc WHERE pronamespace = (SELECT oid FROM ns)
				UNION ALL SELECT 'relation', relname::text, relowner FROM pg_class WHERE relnamespace = (SELECT oid FROM ns)
				UNION ALL SELECT 'type', typname::text, typowner FROM pg_type WHERE typnamespace = (SELECT oid FROM ns)
				UNION ALL SELECT 'operator', oprname::text, oprowner FROM pg_operator WHERE oprnamespace = (SELECT oid FROM ns)
				UNION ALL SELECT 'collation', collname::text, collowner FROM pg_collation WHERE collnamespace = (SELECT oid FROM ns)
				UNION ALL SELECT 'conversion', conname::text, conowner FROM pg_conversion WHERE connamespace = (SELECT oid FROM ns)
				UNION ALL SELECT 'operator family', opfname::text, opfowner FROM pg_opfamily WHERE opfnamespace = (SELECT oid FROM ns)
				UNION ALL SELECT 'text search configuration', cfgname::text, cfgowner FROM pg_ts_config WHERE cfgnamespace = (SELECT oid FROM ns)
				UNION ALL SELECT 'text search dictionary', dictname::text, dictowner FROM pg_ts_dict WHERE dictnamespace = (SELECT oid FROM ns)
			) o JOIN pg_roles r ON r.oid = o.owner WHERE NOT r.rolsuper ORDER BY 1 LIMIT 5`, target)
		if err != nil {
			return fmt.Errorf("create extension %s: look at schema %s: %w", name, target, err)
		}
		if objs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		if len(objs) > 0 {
			return fmt.Errorf("%w: %s: schema %s already holds objects of the database's own (%s): its install script would run them as a superuser",
				ErrExtensionRefused, name, target, strings.Join(objs, ", "))
		}
	}
	sql := "CREATE EXTENSION IF NOT EXISTS " + ident(name)
	if schema != "" {
		sql += " WITH SCHEMA " + ident(schema)
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create extension %s in %s: %w", name, db, err)
	}
	return nil
}

// ErrExtensionRefused means a dump needs an extension outside the allowlist
// (PORTAL_EXTENSIONS_ALLOW).
var ErrExtensionRefused = errors.New("extension not in the allowlist")

func extensionAllowed(name string, allowed []string) bool {
	for _, a := range allowed {
		if a == name {
			return true
		}
	}
	return false
}

// CheckExtensions returns an error wrapping ErrExtensionRefused naming every
// extension of names outside allowed.
func CheckExtensions(names, allowed []string) error {
	var bad []string
	for _, n := range names {
		if !extensionAllowed(n, allowed) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: the dump needs %s (allowed: %s); nothing was changed", ErrExtensionRefused, strings.Join(bad, ", "), strings.Join(allowed, ", "))
	}
	return nil
}

func isDuplicate(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "SQLSTATE 42710") || strings.Contains(err.Error(), "already exists"))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// loginURL is the admin URL with the user and password replaced and the
// database set.
func (c *Cluster) loginURL(db, user, password string) (string, error) {
	u, err := url.Parse(c.adminURL)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(user, password)
	u.Path = "/" + db
	return u.String(), nil
}

// GrantRole makes member a member of role (so member can use what role
// owns). Neither role's attributes change.
func (c *Cluster) GrantRole(ctx context.Context, role, member string) error {
	conn, err := c.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "GRANT "+ident(role)+" TO "+ident(member)); err != nil {
		return fmt.Errorf("grant %s to %s: %w", role, member, err)
	}
	return nil
}

// OwnerRoleFor is the name of the owner role the portal makes for a
// database it creates (a new-project restore's, a demo project's): the one
// naming function's, at most 63 bytes.
func OwnerRoleFor(db string) string { return OwnerRoleName(db) }
