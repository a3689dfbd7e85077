ALTER TABLE posts DROP COLUMN min_tier_id;
