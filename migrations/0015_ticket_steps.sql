-- The step log of a ticket's restore and rollback attempts: each step
-- (precheck, safety snapshot, prepare, apply, verify, cut-over, follow-ups;
-- a rollback's steps) is written by the job when it starts and again when it
-- ends, with what it made (databases from the ticket's records, the safety
-- snapshot's key) and the bytes it moved. A step whose attempt died has no
-- finished_at. The ticket page shows it; scripts/bench-steps.sh reads it.
CREATE TABLE ticket_steps (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    op          text NOT NULL CHECK (op IN ('restore', 'rollback')),
    attempt     integer NOT NULL CHECK (attempt > 0),
    step        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    names       text[] NOT NULL DEFAULT '{}',
    bytes       bigint,
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);

CREATE INDEX ticket_steps_ticket ON ticket_steps (ticket_id, id);
