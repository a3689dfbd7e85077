-- Uploaded files. A row exists from the moment an upload's bytes passed validation and were
-- stored (unscanned, under `incoming/`), so a refused upload leaves no row. Only `published`
-- media is ever served to anyone but its creator, and `quarantined` media to no one.
CREATE TABLE media (
    id uuid PRIMARY KEY,
    creator_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('jpeg', 'png', 'gif', 'webp', 'mp4', 'mov', 'webm')),
    state text NOT NULL CHECK (state IN ('scanning', 'scan_pending', 'moderation_pending',
                                         'published', 'restricted', 'quarantined', 'removed')),
    -- The upload as received: its size and SHA-256.
    original_bytes bigint NOT NULL CHECK (original_bytes > 0),
    original_sha256 bytea NOT NULL CHECK (length(original_sha256) = 32),
    -- What is served (the re-encoded image, or the video as uploaded), checked by the integrity
    -- job when read back.
    served_bytes bigint NOT NULL CHECK (served_bytes > 0),
    served_sha256 bytea NOT NULL CHECK (length(served_sha256) = 32),
    width integer,
    height integer,
    duration_ms bigint,
    -- The post it is attached to, in order.
    post_id uuid REFERENCES posts (id) ON DELETE SET NULL,
    position integer,
    -- What the scanner found, for quarantined media.
    threat text,
    created_at timestamptz NOT NULL,
    scanned_at timestamptz,
    CHECK ((post_id IS NULL) = (position IS NULL))
);
CREATE INDEX media_creator ON media (creator_id, created_at DESC);
CREATE INDEX media_post ON media (post_id, position) WHERE post_id IS NOT NULL;
-- The scan backlog, for the metric and its alert.
CREATE INDEX media_unscanned ON media (created_at) WHERE state IN ('scanning', 'scan_pending');
