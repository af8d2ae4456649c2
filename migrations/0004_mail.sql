-- Mail intake and notifications (internal/intake, internal/jobs/mail.go).

-- Every mail that arrives, stored raw before anything else happens, so a
-- parse failure never loses one. dedupe_key ("mid:<Message-ID>" or
-- "sha256:<hash>") is unique: the same mail delivered twice is stored once.
CREATE TABLE inbound_mail (
    id            bigserial PRIMARY KEY,
    dedupe_key    text NOT NULL UNIQUE,
    raw           bytea NOT NULL,
    via           text NOT NULL CHECK (via IN ('smtp', 'http')),
    envelope_from text NOT NULL DEFAULT '',
    envelope_to   text[] NOT NULL DEFAULT '{}',
    remote_addr   text NOT NULL DEFAULT '',
    helo          text NOT NULL DEFAULT '',
    message_id    text NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL DEFAULT now(),
    -- received: stored, not processed yet; processed: it made a ticket or a
    -- thread entry (or was an automatic mail with no ticket to join).
    status        text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed')),
    -- new_ticket, reply, automatic, automatic_unmatched
    outcome       text NOT NULL DEFAULT '',
    automatic     boolean NOT NULL DEFAULT false,
    problems      text[] NOT NULL DEFAULT '{}',
    ticket_id     bigint REFERENCES tickets (id) ON DELETE SET NULL,
    entry_id      bigint REFERENCES ticket_entries (id) ON DELETE SET NULL,
    processed_at  timestamptz
);
CREATE INDEX inbound_mail_received ON inbound_mail (id) WHERE status = 'received';
CREATE INDEX inbound_mail_message_id ON inbound_mail (message_id) WHERE message_id <> '';
CREATE INDEX inbound_mail_ticket ON inbound_mail (ticket_id) WHERE ticket_id IS NOT NULL;

-- What intake understood of an email ticket's request so far, field by field
-- with how it was found and how sure it is (mail.Request as JSON): a reply's
-- new information is merged into it.
CREATE TABLE ticket_mail_requests (
    ticket_id  bigint PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    request    jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every notification, one row per notify job: the Message-ID is minted once,
-- so a retried job sends the same mail, and a reply finds the ticket by it.
CREATE TABLE outbound_mail (
    id         bigserial PRIMARY KEY,
    job_id     bigint NOT NULL UNIQUE,
    ticket_id  bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    message_id text NOT NULL UNIQUE,
    in_reply_to text NOT NULL DEFAULT '',
    from_addr  text NOT NULL,
    to_addr    text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    raw        bytea NOT NULL,
    -- pending: not sent yet (retrying); sent; not_sent: no relay configured
    -- or the relay refused it for good.
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'not_sent')),
    error      text NOT NULL DEFAULT '',
    attempts   int NOT NULL DEFAULT 0,
    entry_id   bigint REFERENCES ticket_entries (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbound_mail_ticket ON outbound_mail (ticket_id, id);
