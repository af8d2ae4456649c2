-- Four-eyes approvals bound to one plan (internal/tickets plan.go) and login
-- throttling counted before the password check (internal/auth).

-- Every version of a ticket's restore plan, and who vouched for it: a row per
-- Prepare ("prepared") and per Submit ("submitted"). digest is the SHA-256 of
-- the plan's canonical encoding; plan is that encoding, so a refused approval
-- can say what changed. Nobody who wrote any row of a ticket may approve it.
CREATE TABLE ticket_plans (
    id         bigserial PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    action     text NOT NULL CHECK (action IN ('prepared', 'submitted')),
    digest     text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    plan       jsonb NOT NULL,
    author_id  bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_plans_ticket ON ticket_plans (ticket_id, id);

-- An approval approves one digest: of the restore plan, or of a rollback.
ALTER TABLE approvals
    ADD COLUMN plan_digest text NOT NULL DEFAULT '',
    ADD COLUMN kind text NOT NULL DEFAULT 'restore' CHECK (kind IN ('restore', 'rollback'));

-- Throttled attempts are recorded but are not failures: only checked
-- passwords count towards a limit.
ALTER TABLE login_attempts ADD COLUMN throttled boolean NOT NULL DEFAULT false;
CREATE INDEX login_attempts_email_address ON login_attempts (email, address, created_at);
