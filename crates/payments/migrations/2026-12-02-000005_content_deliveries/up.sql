-- The access record for dispute evidence: when, what and from where a fan was handed content,
-- as the media service reports each delivery (`media.content.delivered`). The network address
-- and user agent are personal data: erasure clears them, and rows older than the retention
-- period (policy.access_log_retention_days) are deleted.
CREATE TABLE content_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fan_id       uuid NOT NULL,
    creator_id   uuid NOT NULL,
    post_id      uuid NOT NULL,
    media_id     uuid NOT NULL,
    ppv_item_id  uuid,
    delivered_at timestamptz NOT NULL,
    client_ip    inet,
    user_agent   text CHECK (length(user_agent) <= 256),
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Evidence reads one fan's deliveries from one creator, newest first.
CREATE INDEX content_deliveries_fan_creator ON content_deliveries (fan_id, creator_id, delivered_at);
-- Retention deletes by age.
CREATE INDEX content_deliveries_delivered_at ON content_deliveries (delivered_at);
