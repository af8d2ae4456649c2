-- Staged review of a destructive tables restore: after the restored copy is
-- complete and verified, the restore pauses ('awaiting_cutover') with the
-- row-level comparison of each table (restored copy against live) stored
-- here, until an approver confirms the cut-over ('confirmed': the restore's
-- job continues from the verified copy) or abandons it ('abandoned': the copy
-- is dropped, live untouched), or the pause expires ('expired', the same).
-- The restore's job reads this row when it resumes, never the names it finds.
CREATE TABLE ticket_staged_reviews (
    ticket_id        bigint PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    job_id           bigint NOT NULL,
    state            text NOT NULL CHECK (state IN ('awaiting_cutover', 'confirmed', 'abandoned', 'expired')),
    staging_database text NOT NULL,
    plan_digest      text NOT NULL,
    comparison       jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    decided_by       bigint REFERENCES users (id),
    decided_at       timestamptz
);
CREATE INDEX ticket_staged_reviews_awaiting ON ticket_staged_reviews (expires_at) WHERE state = 'awaiting_cutover';
