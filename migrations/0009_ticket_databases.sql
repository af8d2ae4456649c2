-- Databases (and backup schemas) a ticket's restore or rollback made or
-- renamed on a project cluster. A name is recorded here BEFORE the database is
-- created, and the worker drops or renames only what is recorded as made by
-- the ticket; a retried attempt reads this record, not the names it finds on
-- the cluster. One name is recorded for at most one ticket at a time.
CREATE TABLE ticket_databases (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    cluster     text NOT NULL DEFAULT 'default',
    name        text NOT NULL CHECK (name <> '' AND octet_length(name) <= 63),
    -- schema is empty for a database, else a schema inside database name.
    schema      text NOT NULL DEFAULT '' CHECK (octet_length(schema) <= 63),
    purpose     text NOT NULL CHECK (purpose IN ('staging', 'kept', 'rollback_aside', 'table_backup', 'new_project')),
    -- planned: recorded, maybe not created yet; made: exists, the ticket's;
    -- live: it became a project's live database (never dropped by cleanup);
    -- dropped: gone (dropped, or renamed away: renamed_to says to what).
    state       text NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'made', 'live', 'dropped')),
    renamed_to  text,
    -- drop_after: when cleanup may drop it (kept copies and backups).
    drop_after  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    made_at     timestamptz,
    dropped_at  timestamptz
);
CREATE UNIQUE INDEX ticket_databases_active ON ticket_databases (cluster, name, schema) WHERE state <> 'dropped';
CREATE INDEX ticket_databases_ticket ON ticket_databases (ticket_id);

-- The safety snapshot a destructive restore took of the live database, so a
-- retried attempt reuses it rather than taking another.
CREATE TABLE ticket_safety_snapshots (
    ticket_id   bigint PRIMARY KEY REFERENCES tickets (id),
    snapshot_id bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
