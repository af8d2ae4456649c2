-- Ticket list search: a trigram index over subject, requester and project, so
-- a substring search over many thousands of tickets reads the index, not the
-- table. pg_trgm is a trusted extension: the portal's database owner may
-- create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- fastupdate off: a ticket is searchable through the index at once, rather
-- than from a pending list scanned linearly until the next vacuum.
CREATE INDEX tickets_search ON tickets
    USING gin ((lower(subject || ' ' || requester_email || ' ' || project_ref)) gin_trgm_ops)
    WITH (fastupdate = off);

-- Tickets per state, kept by a trigger, so the dashboard reads eleven rows
-- instead of counting every ticket on each view.
CREATE TABLE ticket_state_counts (
    state text PRIMARY KEY,
    n     bigint NOT NULL DEFAULT 0
);
INSERT INTO ticket_state_counts (state, n) SELECT state, count(*) FROM tickets GROUP BY state;

CREATE FUNCTION ticket_state_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE ticket_state_counts SET n = n - 1 WHERE state = OLD.state;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO ticket_state_counts (state, n) VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET n = ticket_state_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ticket_state_counts_insert_delete AFTER INSERT OR DELETE ON tickets
    FOR EACH ROW EXECUTE FUNCTION ticket_state_counts_keep();
CREATE TRIGGER ticket_state_counts_update AFTER UPDATE OF state ON tickets
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION ticket_state_counts_keep();
