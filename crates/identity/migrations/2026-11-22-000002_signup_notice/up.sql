-- When the owner of an address was last told that someone tried to sign up with it; at most one
-- such notice an hour, so signups cannot be used to flood someone's inbox.
ALTER TABLE users ADD COLUMN signup_notice_at timestamptz;
