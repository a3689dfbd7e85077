-- The integrity job's last reading of each served file: when it read the object back and
-- whether its SHA-256 matched the one recorded at upload.
CREATE TABLE integrity_checks (
    media_id uuid PRIMARY KEY REFERENCES media (id) ON DELETE CASCADE,
    checked_at timestamptz NOT NULL,
    intact boolean NOT NULL
);
