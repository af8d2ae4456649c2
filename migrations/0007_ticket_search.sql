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
