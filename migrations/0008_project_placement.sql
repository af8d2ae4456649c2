-- Where a project lives: the project cluster (a name from PORTAL_CLUSTERS;
-- 'default' is PORTAL_PROJECTS_ADMIN_URL) and the role that owns its
-- database. Every statement of a restored dump runs as that role, never as a
-- superuser. NULL owner_role means: the database's current owner, read from
-- pg_database when a restore starts (refused if that owner is privileged).
ALTER TABLE projects
    ADD COLUMN cluster    text NOT NULL DEFAULT 'default' CHECK (cluster ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    ADD COLUMN owner_role text CHECK (owner_role IS NULL OR (owner_role <> '' AND octet_length(owner_role) <= 63));
