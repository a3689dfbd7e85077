-- Run once by the postgres image when its volume is empty (as the superuser, connected to
-- df_identity, which POSTGRES_DB already created): the services' databases and roles, as
-- production has them. Trust authentication: no passwords.
--
--   df_owner         owns the three databases and their public schemas; the migrate steps
--                    connect as it (database.migration_url) to create tables and grant the app
--                    roles;
--   df_identity_app, df_payments_app, df_media_app
--                    what the services connect as (database.url): they may log in and get row
--                    access from the migrations, nothing else. A role that owned the tables could
--                    disable payments' append-only ledger triggers.
CREATE ROLE df_owner LOGIN;
CREATE ROLE df_identity_app LOGIN;
CREATE ROLE df_payments_app LOGIN;
CREATE ROLE df_media_app LOGIN;

CREATE DATABASE df_payments OWNER df_owner;
CREATE DATABASE df_media OWNER df_owner;
ALTER DATABASE df_identity OWNER TO df_owner;

-- Each app role reaches its own service's database only.
REVOKE CONNECT, TEMPORARY ON DATABASE df_identity FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE df_payments FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE df_media FROM PUBLIC;
GRANT CONNECT ON DATABASE df_identity TO df_identity_app;
GRANT CONNECT ON DATABASE df_payments TO df_payments_app;
GRANT CONNECT ON DATABASE df_media TO df_media_app;

-- Since PostgreSQL 15 the public schema belongs to pg_database_owner, so the database owner may
-- create in it; owning it outright also holds on older servers, and lets df_owner decide who
-- else may use it (the migrations grant the app role USAGE).
\connect df_identity
ALTER SCHEMA public OWNER TO df_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;

\connect df_payments
ALTER SCHEMA public OWNER TO df_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;

\connect df_media
ALTER SCHEMA public OWNER TO df_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
