-- Projects: every customer project the portal knows, discovered in S3 or
-- registered (a database on the project cluster that can be captured and
-- restored into).
CREATE TABLE projects (
    ref           text PRIMARY KEY CHECK (ref ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    database_name text,
    source        text NOT NULL DEFAULT 'discovered' CHECK (source IN ('discovered', 'registered', 'restored')),
    restored_from text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
