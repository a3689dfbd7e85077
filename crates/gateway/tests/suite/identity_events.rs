//! Identity's events leave through the outbox: a signup and an email verification each reach a
//! bus consumer exactly once, as protobuf payloads in the common envelope.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use df_common::Error;
use df_devstack::platform::Platform;
use df_proto::events::v1::{UserEmailVerified, UserRegistered};
use df_runtime::bus::{Bus, EventEnvelope, EventHandler, spawn_consumer};
use df_testkit::TestDb;
use diesel_async::AsyncPgConnection;
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Probe(mpsc::UnboundedSender<EventEnvelope>);

#[async_trait]
impl EventHandler for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn bindings(&self) -> Vec<String> {
        vec!["identity.#".into()]
    }
    async fn handle(
        &self,
        _conn: &mut AsyncPgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        let _ = self.0.send(envelope.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_and_verification_are_published_once() {
    let platform = Platform::start().await;
    let (sender, mut received) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    // The probe is a consumer of its own, with its own database for its inbox.
    let probe_db = TestDb::new(
        "probe",
        df_runtime::KIT_MIGRATIONS,
        std::path::Path::new(df_runtime::KIT_MIGRATIONS_DIR),
    )
    .await;
    let bus = Bus::connect(&platform.env.bus.config(), "probe");
    let consumer = spawn_consumer(
        probe_db.db(),
        bus,
        Arc::new(Probe(sender)),
        &platform.env.bus.config(),
        shutdown.clone(),
    );
    platform.env.bus.consumed("probe", "probe").await;

    platform
        .verified_user("events@example.com", "evented", "creator")
        .await;

    let mut events = Vec::new();
    while events.len() < 2 {
        let envelope = tokio::time::timeout(Duration::from_secs(20), received.recv())
            .await
            .unwrap()
            .unwrap();
        events.push(envelope);
    }
    let registered = events
        .iter()
        .find(|e| e.event_type == "identity.user.registered")
        .unwrap();
    assert_eq!(registered.source, "identity");
    let body = UserRegistered::decode(registered.payload.as_slice()).unwrap();
    assert_eq!(body.role, "creator");
    let verified = events
        .iter()
        .find(|e| e.event_type == "identity.user.email_verified")
        .unwrap();
    let verified = UserEmailVerified::decode(verified.payload.as_slice()).unwrap();
    assert_eq!(verified.user_id, body.user_id);
    // Nothing about the user's email travels on the bus.
    assert!(
        events
            .iter()
            .all(|e| !String::from_utf8_lossy(&e.payload).contains("events@example.com"))
    );
    // Exactly once: nothing else arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), received.recv())
            .await
            .is_err()
    );
    shutdown.cancel();
    consumer.await.unwrap().unwrap();
    platform.stop().await;
}
