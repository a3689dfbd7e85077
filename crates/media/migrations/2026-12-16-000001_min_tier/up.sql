-- A subscribers' post may be reserved to a minimum tier of its creator's (a tier payments
-- names; media records its id only).
ALTER TABLE posts ADD COLUMN min_tier_id uuid;
