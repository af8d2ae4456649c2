-- 0023: the roles a ticket made (ticket_roles), database records moved to
-- their project's cluster, and the ends of job attempts (job_attempt_ends).

-- Roles a ticket's restore made on a project cluster: the owner role
-- (<db>_owner) of a new-project restore's database. The name is recorded
-- BEFORE the role is created; a rollback (or a failed restore) drops only a
-- role recorded here as made by its ticket, and only when nothing else on the
-- cluster still depends on it. A role that existed before the claim is never
-- the ticket's (state existing) and is never dropped.
CREATE TABLE ticket_roles (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    cluster     text NOT NULL,
    name        text NOT NULL CHECK (name <> '' AND octet_length(name) <= 63),
    -- planned: recorded, maybe not created yet; made: exists, the ticket's;
    -- existing: it existed before the claim, not the ticket's;
    -- dropped: gone.
    state       text NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'made', 'existing', 'dropped')),
    -- left_because: why a drop left the role (what still depends on it).
    left_because text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    made_at     timestamptz,
    dropped_at  timestamptz
);
CREATE UNIQUE INDEX ticket_roles_active ON ticket_roles (cluster, name) WHERE state IN ('planned', 'made');
CREATE INDEX ticket_roles_ticket ON ticket_roles (ticket_id);

-- ticket_databases rows were all written naming cluster 'default', wherever
-- the database was. Every database a ticket makes is on its project's
-- cluster (a new project's on the source project's): name that one.
UPDATE ticket_databases d SET cluster = p.cluster
FROM tickets t JOIN projects p ON p.ref = t.project_ref
WHERE d.ticket_id = t.id AND d.cluster = 'default' AND p.cluster <> 'default';

-- The end of each restore and rollback job attempt, written by its worker
-- on the project lock's session just before it releases the lock. River
-- marks the job completed (or snoozed, failed) only after the worker
-- returns; in between, the job reads running with its lock free, as a dead
-- worker's would. The watchdog does not rescue (nor count) an attempt that
-- ended, unless River has not recorded its end long after it.
CREATE TABLE job_attempt_ends (
    job_id   bigint NOT NULL,
    attempt  int NOT NULL,
    ended_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, attempt)
);
