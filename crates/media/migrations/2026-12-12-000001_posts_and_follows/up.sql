-- Posts: a creator's text (attachments arrive with uploads), who may see it, and when it
-- publishes. A PPV post names the item fans buy at payments.
CREATE TABLE posts (
    id uuid PRIMARY KEY,
    creator_id uuid NOT NULL,
    body text NOT NULL,
    visibility text NOT NULL CHECK (visibility IN ('public', 'subscribers', 'ppv')),
    price_minor bigint,
    currency text,
    ppv_item_id uuid,
    adult boolean NOT NULL DEFAULT false,
    publish_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    edited_at timestamptz,
    CHECK ((visibility = 'ppv') = (price_minor IS NOT NULL AND currency IS NOT NULL)),
    CHECK (ppv_item_id IS NULL OR visibility = 'ppv')
);

-- A creator's feed, newest first, and the home feed's merge over several creators.
CREATE INDEX posts_feed ON posts (creator_id, publish_at DESC, id DESC);

-- Free follows; subscriptions live in payments.
CREATE TABLE follows (
    fan_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (fan_id, creator_id)
);
CREATE INDEX follows_creator ON follows (creator_id);
