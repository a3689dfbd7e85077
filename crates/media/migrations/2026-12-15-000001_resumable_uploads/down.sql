DROP TABLE upload_parts;
DROP TABLE upload_sessions;
