-- Undelete merges of a ticket ('restore': the snapshot's missing rows
-- inserted into the live tables) and their rollback ('rollback': exactly
-- those rows deleted again). Like ticket_table_swaps, a row is written before
-- the merge starts, the live transaction's id and the keys it inserted just
-- before its commit ('committing'), and the fact right after ('committed'). A
-- retry reads this row: a 'committing' merge is resolved by asking the live
-- database whether that transaction committed (pg_xact_status).
CREATE TABLE ticket_undeletes (
    ticket_id     bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    op            text NOT NULL CHECK (op IN ('restore', 'rollback')),
    live_database text NOT NULL,
    staging       text NOT NULL DEFAULT '', -- the staging database the rows came from
    tables        text[] NOT NULL,
    state         text NOT NULL DEFAULT 'prepared' CHECK (state IN ('prepared', 'committing', 'committed')),
    xid           bigint,
    -- per table: inserted, conflicts, unchanged, conflict samples, sequences
    report        jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    committed_at  timestamptz,
    PRIMARY KEY (ticket_id, op)
);

-- The primary keys a merge inserted, per table: the rollback deletes exactly
-- these rows. keys is a JSON array of arrays of the key columns' text values,
-- in the order of key_columns.
CREATE TABLE ticket_undelete_keys (
    ticket_id   bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    table_name  text NOT NULL,
    key_columns text[] NOT NULL,
    keys        jsonb NOT NULL,
    PRIMARY KEY (ticket_id, table_name)
);

-- The third mode of a ticket.
ALTER TABLE tickets DROP CONSTRAINT tickets_mode_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_mode_check CHECK (mode IN ('destructive', 'new_project', 'undelete'));
