-- Snapshot catalog: every dump object found under <prefix>/<ref>/ in S3 (or
-- captured by the portal), its verification outcome and table inventory.
-- Pages read these tables, never S3.
CREATE TABLE snapshots (
    id                 bigserial PRIMARY KEY,
    project_ref        text NOT NULL REFERENCES projects (ref) ON UPDATE CASCADE,
    key                text NOT NULL UNIQUE,
    size               bigint NOT NULL,
    etag               text NOT NULL DEFAULT '',
    -- taken_at is parsed from the key; NULL when the key has no time we understand.
    taken_at           timestamptz,
    last_modified      timestamptz,
    first_seen         timestamptz NOT NULL DEFAULT now(),
    last_seen          timestamptz NOT NULL DEFAULT now(),
    -- automatic: written by the platform's schedule or the portal's daily capture;
    -- manual: "snapshot now" or a safety snapshot before a restore. Retention
    -- prunes automatic snapshots only.
    kind               text NOT NULL DEFAULT 'automatic' CHECK (kind IN ('automatic', 'manual')),
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'corrupt')),
    reason             text NOT NULL DEFAULT '',
    verified_at        timestamptz,
    server_version     text NOT NULL DEFAULT '',
    dump_version       text NOT NULL DEFAULT '',
    entries            integer NOT NULL DEFAULT 0,
    uncompressed_bytes bigint NOT NULL DEFAULT 0,
    -- deleted_at is set when the object disappeared from S3 (noticed by a full
    -- sync) or was pruned; the row stays so tickets keep their history.
    deleted_at         timestamptz,
    deleted_reason     text NOT NULL DEFAULT ''
);

-- The timeline of a project and resolution "latest verified at or before".
CREATE INDEX snapshots_project_time ON snapshots (project_ref, (coalesce(taken_at, last_modified)) DESC, key DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX snapshots_pending ON snapshots (first_seen) WHERE status = 'pending' AND deleted_at IS NULL;

-- Inventory of a verified snapshot, one row per table in dump order.
CREATE TABLE snapshot_tables (
    snapshot_id bigint NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    rows        bigint NOT NULL,
    bytes       bigint NOT NULL,
    has_data    boolean NOT NULL,
    PRIMARY KEY (snapshot_id, schema_name, table_name)
);

-- A per-project summary maintained by sync, verification, capture and
-- retention, so the projects list with 10,000 projects reads one row each.
CREATE TABLE project_snapshot_summaries (
    project_ref        text PRIMARY KEY REFERENCES projects (ref) ON UPDATE CASCADE ON DELETE CASCADE,
    snapshot_count     integer NOT NULL DEFAULT 0,
    verified_count     integer NOT NULL DEFAULT 0,
    corrupt_count      integer NOT NULL DEFAULT 0,
    pending_count      integer NOT NULL DEFAULT 0,
    total_bytes        bigint NOT NULL DEFAULT 0,
    newest_id          bigint,
    newest_at          timestamptz,
    newest_status      text,
    -- newest_key is the highest key with a time in it: an incremental sync lists
    -- the project after it. Keys without a time are listed every time (they
    -- may sort after it) and written only when changed.
    newest_key         text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One row per sync run: when, how much, and whether it was a full listing.
CREATE TABLE snapshot_syncs (
    id          bigserial PRIMARY KEY,
    project_ref text,          -- NULL: every project
    full_scan   boolean NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    listed      integer NOT NULL DEFAULT 0,
    added       integer NOT NULL DEFAULT 0,
    changed     integer NOT NULL DEFAULT 0,
    deleted     integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX snapshot_syncs_recent ON snapshot_syncs (project_ref, started_at DESC);

-- Snapshots an open ticket references; retention never prunes them. The
-- tickets migration replaces this placeholder (CREATE OR REPLACE VIEW with the
-- same single column).
CREATE VIEW snapshot_references AS SELECT NULL::bigint AS snapshot_id WHERE false;
