//! Diesel declarations of the kit's `outbox` and `inbox` tables ([`crate::KIT_MIGRATIONS`]).

diesel::table! {
    /// Events waiting to be published.
    outbox (id) {
        /// The event id (also the envelope id and the AMQP message id).
        id -> Uuid,
        /// Routing key.
        event_type -> Text,
        /// The encoded envelope.
        payload -> Bytea,
        /// When the event was written; the relay publishes in this order.
        created_at -> Timestamptz,
        /// Failed publish attempts so far.
        attempts -> Int4,
        /// Why the last attempt failed (never a secret).
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    /// Events a consumer has applied.
    inbox (consumer, event_id) {
        /// The handler name.
        consumer -> Text,
        /// The envelope id.
        event_id -> Uuid,
        /// When it was applied.
        processed_at -> Timestamptz,
    }
}
