-- Resumable uploads (tus at the gateway): the file announced, and how far it has come. The
-- bytes live in the object store as parts (`resumable/<id>/...`), one per append, so any
-- replica can take the next append and a restart loses nothing that was acknowledged.
CREATE TABLE upload_sessions (
    id uuid PRIMARY KEY,
    creator_id uuid NOT NULL,
    file_name text NOT NULL,
    content_type text NOT NULL,
    length bigint NOT NULL CHECK (length > 0),
    received bigint NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= length),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX upload_sessions_creator ON upload_sessions (creator_id);
CREATE INDEX upload_sessions_expiry ON upload_sessions (expires_at);

-- One row per append that kept bytes; the primary key lets only one append start at an offset.
CREATE TABLE upload_parts (
    session_id uuid NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
    start_offset bigint NOT NULL CHECK (start_offset >= 0),
    bytes bigint NOT NULL CHECK (bytes > 0),
    object_key text NOT NULL,
    PRIMARY KEY (session_id, start_offset)
);
