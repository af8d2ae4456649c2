-- Database cut-overs of a ticket: the full-scope destructive restore's swap of
-- its staging database in for the live one ('restore'), and its rollback's
-- swap back ('rollback'). The row is written before the cut-over takes its
-- block, naming the Postgres session that holds it (the block is that
-- session's lock and ends with it); the renames' transaction id just before
-- its commit ('committing'); the fact right after ('committed'), or that it
-- was rolled back ('undone'). A retry, and the portal, read this row: a
-- 'committing' cut-over is resolved by asking the cluster (pg_xact_status).
CREATE TABLE ticket_cutovers (
    ticket_id     bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    op            text NOT NULL CHECK (op IN ('restore', 'rollback')),
    cluster       text NOT NULL,
    live_database text NOT NULL,
    incoming      text NOT NULL, -- becomes live
    outgoing      text NOT NULL, -- the live one, renamed
    state         text NOT NULL CHECK (state IN ('blocking', 'committing', 'committed', 'undone')),
    backend_pid   integer NOT NULL,
    backend_start timestamptz NOT NULL,
    xid           bigint,
    blocked_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    note          text NOT NULL DEFAULT '',
    PRIMARY KEY (ticket_id, op)
);
