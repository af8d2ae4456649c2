-- Table swaps of a ticket: the table-scope destructive restore ('restore')
-- and its rollback ('rollback'). A row is written before the swap starts,
-- the live transaction's id just before its commit (state 'committing'), and
-- the fact right after it ('committed'). A retry reads this row, not the
-- names on the cluster: a 'committing' swap is resolved by asking the live
-- database whether that transaction committed (pg_xact_status).
CREATE TABLE ticket_table_swaps (
    ticket_id     bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    op            text NOT NULL CHECK (op IN ('restore', 'rollback')),
    live_database text NOT NULL,
    -- keep_database.keep_schema holds the rows the swap replaced.
    keep_database text NOT NULL,
    keep_schema   text NOT NULL,
    tables        text[] NOT NULL,
    state         text NOT NULL DEFAULT 'prepared' CHECK (state IN ('prepared', 'committing', 'committed')),
    xid           bigint,
    before_rows   jsonb,
    after_rows    jsonb,
    kept_until    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    committed_at  timestamptz,
    PRIMARY KEY (ticket_id, op)
);
