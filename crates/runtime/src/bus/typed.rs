//! Consumers of one event type: the queue binds the type's routing key, and the payload is
//! decoded here, once for every consumer, so a handler receives the event itself. A payload
//! that does not decode as the type is refused as invalid input (`common.bus_malformed_event`),
//! which sends it to the dead-letter queue on its first delivery.

use std::marker::PhantomData;

use async_trait::async_trait;
use df_common::Error;
use df_proto::Event;
use diesel_async::AsyncPgConnection;

use super::{EventEnvelope, EventHandler};

/// Applies events of one type.
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// The event consumed; its routing key is the queue's binding.
    type Event: Event;

    /// Stable consumer name: the queue is `<ns><service>.<name>` and the inbox key is the name.
    const NAME: &'static str;

    /// Applies `event`, inside the transaction that records it in the inbox (see
    /// [`EventHandler::handle`]). `envelope` carries its id, source and time.
    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        event: Self::Event,
        envelope: &EventEnvelope,
    ) -> Result<(), Error>;

    /// Runs after the transaction of [`Consumer::apply`] committed (see
    /// [`EventHandler::committed`]).
    async fn committed(&self, _event: Self::Event) {}
}

/// The [`EventHandler`] of a [`Consumer`].
pub struct Typed<C> {
    consumer: C,
    event: PhantomData<fn() -> C>,
}

impl<C: Consumer> Typed<C> {
    /// Wraps `consumer`.
    pub fn new(consumer: C) -> Self {
        Self {
            consumer,
            event: PhantomData,
        }
    }
}

#[async_trait]
impl<C: Consumer> EventHandler for Typed<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn bindings(&self) -> Vec<String> {
        vec![<C::Event as Event>::ROUTING_KEY.to_owned()]
    }

    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        let event = decode::<C::Event>(envelope)?;
        self.consumer.apply(conn, event, envelope).await
    }

    async fn committed(&self, envelope: &EventEnvelope) {
        // `handle` decoded the same bytes before it could commit.
        if let Ok(event) = decode::<C::Event>(envelope) {
            self.consumer.committed(event).await;
        }
    }
}

/// The payload of `envelope` as `E`.
pub fn decode<E: Event>(envelope: &EventEnvelope) -> Result<E, Error> {
    E::decode(envelope.payload.as_slice()).map_err(|e| {
        Error::invalid_input(
            "common.bus_malformed_event",
            "The event's payload is not the event its type names.",
        )
        .with_cause(anyhow::anyhow!("{}: {e}", E::ROUTING_KEY))
    })
}

#[cfg(test)]
mod tests {
    use df_proto::events::v1::UserErasureRequested;
    use prost::Message;

    use super::*;

    struct Erasures;

    #[async_trait]
    impl Consumer for Erasures {
        type Event = UserErasureRequested;
        const NAME: &'static str = "erasures";

        async fn apply(
            &self,
            _conn: &mut AsyncPgConnection,
            _event: UserErasureRequested,
            _envelope: &EventEnvelope,
        ) -> Result<(), Error> {
            Ok(())
        }
    }

    #[test]
    fn a_consumer_binds_its_events_key_and_decodes_its_payload_or_refuses_it() {
        let handler = Typed::new(Erasures);
        assert_eq!(handler.name(), "erasures");
        assert_eq!(handler.bindings(), ["privacy.user.erasure_requested"]);

        let event = UserErasureRequested {
            user_id: "u".into(),
            request_id: "r".into(),
            requested_at: None,
        };
        let mut envelope = EventEnvelope {
            payload: event.encode_to_vec(),
            ..EventEnvelope::default()
        };
        assert_eq!(decode::<UserErasureRequested>(&envelope).unwrap(), event);
        envelope.payload = vec![0xff, 0xff, 0xff];
        let refused = decode::<UserErasureRequested>(&envelope).unwrap_err();
        assert_eq!(refused.code(), "common.bus_malformed_event");
        assert_eq!(refused.kind(), df_common::ErrorKind::InvalidInput);
    }
}
