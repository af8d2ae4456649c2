-- Restore drills: a project's newest verified snapshot restored into a scratch
-- database, checked (row counts, amcheck, foreign keys) and dropped. One row
-- per attempt; the scratch database is recorded before it is created, and a
-- drill drops only the database its own row names.
CREATE TABLE drills (
    id               bigserial PRIMARY KEY,
    project_ref      text NOT NULL REFERENCES projects (ref) ON UPDATE CASCADE ON DELETE CASCADE,
    snapshot_id      bigint REFERENCES snapshots (id) ON DELETE SET NULL,
    -- snapshot_at is the point in time the drill proves restorable.
    snapshot_at      timestamptz,
    trigger          text NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'manual')),
    job_id           bigint,
    cluster          text NOT NULL DEFAULT '',
    scratch_database text NOT NULL DEFAULT '',
    -- planned: recorded, not created yet; made: exists; dropped: gone.
    scratch_state    text NOT NULL DEFAULT 'none' CHECK (scratch_state IN ('none', 'planned', 'made', 'dropped')),
    -- running; passed; failed (reason says why); yielded to a real restore.
    outcome          text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'passed', 'failed', 'yielded')),
    reason           text NOT NULL DEFAULT '',
    notes            text[] NOT NULL DEFAULT '{}',
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    -- recovery_ms: from the start to a restored, row-checked copy (what a full
    -- restore of this snapshot costs); duration_ms: the whole drill.
    recovery_ms      bigint,
    duration_ms      bigint,
    bytes            bigint NOT NULL DEFAULT 0,
    tables_checked   integer NOT NULL DEFAULT 0,
    rows_checked     bigint NOT NULL DEFAULT 0,
    indexes_checked  integer NOT NULL DEFAULT 0,
    fks_checked      integer NOT NULL DEFAULT 0
);
CREATE INDEX drills_project ON drills (project_ref, started_at DESC);
CREATE INDEX drills_started ON drills (started_at);
-- No two live records of one scratch name.
CREATE UNIQUE INDEX drills_scratch ON drills (cluster, scratch_database) WHERE scratch_state IN ('planned', 'made');

-- Snapshot health alarms: one row per episode of a condition of a project,
-- open while the condition holds. An alarm fires (is counted, listed and
-- mailed) when its row is inserted, so a condition that holds over many
-- syncs fires once; at most one mail per project and condition per day.
CREATE TABLE health_alarms (
    id          bigserial PRIMARY KEY,
    project_ref text NOT NULL REFERENCES projects (ref) ON UPDATE CASCADE ON DELETE CASCADE,
    condition   text NOT NULL CHECK (condition IN ('drill_failed', 'slow_recovery', 'no_snapshot', 'snapshot_corrupt', 'size_anomaly')),
    detail      text NOT NULL,
    drill_id    bigint REFERENCES drills (id) ON DELETE SET NULL,
    snapshot_id bigint REFERENCES snapshots (id) ON DELETE SET NULL,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    cleared_at  timestamptz,
    -- none: not to be mailed (no PORTAL_OPS_ADDRESS, or one was mailed in the
    -- last day); pending; sent; not_sent (no relay, or refused for good).
    mail_status text NOT NULL DEFAULT 'none' CHECK (mail_status IN ('none', 'pending', 'sent', 'not_sent')),
    mail_to     text NOT NULL DEFAULT '',
    mail_error  text NOT NULL DEFAULT '',
    message_id  text NOT NULL DEFAULT '',
    raw         bytea,
    mailed_at   timestamptz
);
CREATE UNIQUE INDEX health_alarms_open ON health_alarms (project_ref, condition) WHERE cleared_at IS NULL;
CREATE INDEX health_alarms_recent ON health_alarms (raised_at DESC);
