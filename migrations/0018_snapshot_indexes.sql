-- The access index verification wrote for a snapshot's object version: where it
-- is (bucket and key, PORTAL_S3_INDEX_BUCKET and PORTAL_S3_INDEX_PREFIX), its
-- SHA-256 and size. A tables restore uses an index only when the object it
-- fetches has this digest and describes the verified version (etag), so an
-- index replaced in S3 (a bucket others may write to) is never trusted; it
-- reads the whole snapshot instead.
CREATE TABLE snapshot_indexes (
    snapshot_id bigint PRIMARY KEY REFERENCES snapshots (id) ON DELETE CASCADE,
    etag        text NOT NULL,
    bucket      text NOT NULL,
    key         text NOT NULL,
    sha256      text NOT NULL,
    bytes       bigint NOT NULL,
    checkpoints integer NOT NULL,
    built_at    timestamptz NOT NULL DEFAULT now()
);
