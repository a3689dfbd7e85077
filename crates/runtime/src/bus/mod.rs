//! The RabbitMQ event bus: transactional outbox, relay with publisher confirms, and consumers
//! with an inbox, retries with back-off and a dead-letter queue.
//!
//! How an event travels:
//!
//! 1. A service changes its data and, in the same database transaction, calls
//!    [`outbox::enqueue`], which writes the encoded [`EventEnvelope`] to its `outbox` table. The
//!    event exists exactly when the change does.
//! 2. The [`OutboxRelay`] (one task per service process) reads the outbox in order, publishes
//!    each row to the topic exchange `<ns>df.events` with routing key = event type, and deletes a
//!    row only after the broker confirmed it. Publishing is therefore at-least-once.
//! 3. Each consumer ([`spawn_consumer`] with an [`EventHandler`]) owns a durable quorum queue
//!    `<ns><service>.<consumer>` bound to the routing-key patterns it asks for. A delivery is
//!    applied inside a transaction that first records the event id in the `inbox` table; a
//!    redelivered event finds its id there and is acknowledged without running the handler
//!    again, so handling is effectively exactly-once.
//! 4. A failing handler rolls back, waits a back-off and returns the message to the queue; after
//!    `bus.delivery_limit` deliveries the broker moves it to `<queue>.dlq`. An undecodable
//!    message goes there at once.
//!
//! Every service keeps the `outbox` and `inbox` tables in its own database; they are the kit's
//! own migration ([`crate::KIT_MIGRATIONS`]), run before the service's.
//!
//! A queue exists once its consumer has started at least once; events published before that
//! match no queue and are dropped by the broker, as with any topic exchange. Deploy (or start)
//! consumers before the producers whose events they must not miss.

pub mod consumer;
pub mod envelope;
pub mod inbox;
pub mod outbox;
pub mod relay;
pub mod schema;
pub mod topology;
pub mod typed;

mod connection;

pub use connection::Bus;
pub use consumer::{EventHandler, spawn_consumer};
pub use df_proto::events::v1::EventEnvelope;
pub use envelope::decode_envelope;
pub use outbox::enqueue;
pub use relay::{OutboxRelay, RelayHandle};
pub use typed::{Consumer, Typed};

use df_common::error::{Error, ErrorKind};

/// Content type of every message: the body is an encoded [`EventEnvelope`].
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// The broker could not be used; the cause (never the URL) is kept private.
pub(crate) fn unavailable(what: &str, cause: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "common.bus_unavailable",
        "The service is temporarily unavailable. Try again later.",
    )
    .with_cause(anyhow::anyhow!("{what}: {cause}"))
}

/// A broker operation did not finish within the configured time.
pub(crate) fn timed_out(what: &str) -> Error {
    Error::new(
        ErrorKind::Timeout,
        "common.bus_timeout",
        "The service did not answer in time. Try again later.",
    )
    .with_cause(anyhow::anyhow!("{what}: timed out"))
}
