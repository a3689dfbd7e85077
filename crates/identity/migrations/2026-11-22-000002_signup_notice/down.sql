ALTER TABLE users DROP COLUMN signup_notice_at;
