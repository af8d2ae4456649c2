-- Staff accounts, sessions, API tokens and login throttling (internal/auth);
-- tickets, their thread, approvals and the append-only audit trail
-- (internal/tickets, internal/audit).

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name          text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'approver', 'admin')),
    password_hash text NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Sessions are server side: the cookie holds a random token, the table its
-- SHA-256, so a leaked table does not log anyone in.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    address      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- API tokens are shown once; only their SHA-256 is kept.
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

-- Every login attempt, for throttling per account and per address.
CREATE TABLE login_attempts (
    id         bigserial PRIMARY KEY,
    email      text NOT NULL,
    address    text NOT NULL,
    succeeded  boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email ON login_attempts (email, created_at);
CREATE INDEX login_attempts_address ON login_attempts (address, created_at);

CREATE TABLE tickets (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL CHECK (source IN ('email', 'portal', 'api')),
    subject         text NOT NULL DEFAULT '',
    requester_email text NOT NULL,
    requester_name  text NOT NULL DEFAULT '',
    project_ref     text NOT NULL,
    requested_at    timestamptz,
    requested_tz    text NOT NULL DEFAULT 'UTC',
    snapshot_id     bigint REFERENCES snapshots (id),
    scope_kind      text NOT NULL DEFAULT 'full' CHECK (scope_kind IN ('full', 'tables')),
    scope_tables    text[] NOT NULL DEFAULT '{}',
    mode            text NOT NULL DEFAULT 'new_project' CHECK (mode IN ('destructive', 'new_project')),
    options         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'needs_info', 'ready',
                        'awaiting_approval', 'queued', 'running', 'succeeded', 'failed', 'cancelled',
                        'rejected', 'rolled_back')),
    assignee_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    created_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    prepared_by     bigint REFERENCES users (id) ON DELETE SET NULL,
    approved_by     bigint REFERENCES users (id) ON DELETE SET NULL,
    job_id          bigint,
    rollback_job_id bigint,
    progress        jsonb,
    result          jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (scope_kind = 'full' OR cardinality(scope_tables) > 0)
);
CREATE INDEX tickets_state_id ON tickets (state, id DESC);
CREATE INDEX tickets_project_id ON tickets (project_ref, id DESC);
CREATE INDEX tickets_requester_id ON tickets (requester_email, id DESC);
CREATE INDEX tickets_active ON tickets (id) WHERE state IN ('queued', 'running');

-- The ticket's thread: mail in and out, staff notes, system messages.
CREATE TABLE ticket_entries (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('mail_in', 'mail_out', 'note', 'system')),
    author_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    from_addr   text NOT NULL DEFAULT '',
    subject     text NOT NULL DEFAULT '',
    body        text NOT NULL DEFAULT '',
    message_id  text,
    in_reply_to text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_entries_ticket ON ticket_entries (ticket_id, id);
CREATE UNIQUE INDEX ticket_entries_message_id ON ticket_entries (message_id) WHERE message_id IS NOT NULL;

CREATE TABLE approvals (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id),
    confirm_ref text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approvals_ticket ON approvals (ticket_id);

-- The audit trail is append-only: a trigger refuses updates and deletes.
CREATE TABLE audit_events (
    id         bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    actor_id   bigint,
    actor      text NOT NULL,
    action     text NOT NULL,
    ticket_id  bigint,
    user_id    bigint,
    address    text NOT NULL DEFAULT '',
    before     jsonb,
    after      jsonb
);
CREATE INDEX audit_events_ticket ON audit_events (ticket_id, id) WHERE ticket_id IS NOT NULL;
CREATE INDEX audit_events_created ON audit_events (id DESC);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Retention guard: snapshots that an open ticket points at are kept.
CREATE OR REPLACE VIEW snapshot_references AS
    SELECT snapshot_id FROM tickets
    WHERE state NOT IN ('succeeded', 'cancelled', 'rejected', 'rolled_back') AND snapshot_id IS NOT NULL;
