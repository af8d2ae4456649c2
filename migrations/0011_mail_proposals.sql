-- Mail proposes, staff decide; intake loses nothing (issue 12).

-- A stored mail whose processing failed for good (River's last attempt) is
-- 'failed', with the error, so staff see it and can retry it; it never ends
-- silently.
ALTER TABLE inbound_mail DROP CONSTRAINT inbound_mail_status_check;
ALTER TABLE inbound_mail ADD CONSTRAINT inbound_mail_status_check
    CHECK (status IN ('received', 'processed', 'failed'));
ALTER TABLE inbound_mail
    ADD COLUMN error     text NOT NULL DEFAULT '',
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN retries   int NOT NULL DEFAULT 0;
CREATE INDEX inbound_mail_failed ON inbound_mail (id) WHERE status = 'failed';

-- Changes a mail asked for that were not applied: the ticket was prepared
-- or approved already, the sender is not the requester, or the mail failed
-- DMARC. Staff accept (applied as their edit) or dismiss them. Empty or
-- NULL fields are not part of the proposal.
CREATE TABLE ticket_proposals (
    id           bigserial PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    entry_id     bigint REFERENCES ticket_entries (id) ON DELETE SET NULL,
    from_addr    text NOT NULL,
    reason       text NOT NULL,
    auth_results text NOT NULL DEFAULT '',
    project_ref  text NOT NULL DEFAULT '',
    requested_at timestamptz,
    requested_tz text NOT NULL DEFAULT '',
    scope        jsonb,
    mode         text NOT NULL DEFAULT '',
    -- the plan as it was when the mail came: what the diff is against
    plan_before  jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'dismissed')),
    decided_by   bigint REFERENCES users (id),
    decided_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_proposals_ticket ON ticket_proposals (ticket_id, id);
CREATE INDEX ticket_proposals_open ON ticket_proposals (ticket_id) WHERE status = 'open';

-- Addresses whose mail counts as the requester's: the support agent who
-- forwarded the request, colleagues staff list. Their mail is understood
-- and may fill in a request in triage, like the requester's.
CREATE TABLE ticket_requester_aliases (
    ticket_id  bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    email      text NOT NULL CHECK (email = lower(email)),
    why        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, email)
);
