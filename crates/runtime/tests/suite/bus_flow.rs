//! The event bus end to end, against the machine's RabbitMQ and Postgres: outbox → relay →
//! broker → consumer → handler, exactly once, through broker outages and connection resets,
//! with failing and undecodable messages ending in the dead-letter queue.
//!
//! Every test has its own database and its own bus namespace, so they run in parallel.

// A failed unwrap is a failed test, with the value in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use df_common::{Error, ids::EventId};
use df_proto::Event;
use df_runtime::{
    bus::{
        self, Bus, EventEnvelope, EventHandler, OutboxRelay, RelayHandle, inbox, outbox,
        spawn_consumer, topology,
    },
    config::BusConfig,
    db::Db,
};
use df_testkit::{TcpProxy, TestBus, TestDb, eventually};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use opentelemetry::trace::{TraceContextExt, TraceId};
use prost::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("tests/migrations");

/// The user every test event is about.
const USER: &str = "0190b1a2-0000-7000-8000-000000000001";

/// A test event, as the producer writes it.
trait TestEvent: Event {
    fn about_user() -> Self;
}

/// Declares test events: each carries [`USER`], under its own routing key.
macro_rules! test_events {
    ($($event:ident => $key:literal),* $(,)?) => {
        $(
            #[derive(Clone, PartialEq, prost::Message)]
            struct $event {
                #[prost(string, tag = "1")]
                user_id: String,
            }

            impl TestEvent for $event {
                fn about_user() -> Self {
                    Self { user_id: USER.into() }
                }
            }
        )*
        df_proto::routing_keys! { $($event => $key),* }
    };
}

test_events! {
    Registered => "test.user.registered",
    Poison => "test.poison",
    Good => "test.good",
    Refused => "test.refused",
    Thing => "test.thing",
    Misnamed => "Not A Type",
}
const SERVICE: &str = "svc";
const WAIT: Duration = Duration::from_secs(30);

diesel::table! {
    applied (id) {
        id -> Int8,
        event_id -> Uuid,
        event_type -> Text,
    }
}

/// A handler that records what it applies in the `applied` table (inside the inbox transaction)
/// and always fails on one event type, after writing, so a rollback is visible.
struct Recorder {
    name: &'static str,
    poison: Option<&'static str>,
    /// An event type the handler refuses as invalid input (a permanent refusal).
    refuse: Option<&'static str>,
    calls: AtomicUsize,
    poison_calls: AtomicUsize,
    seen: Mutex<Vec<EventEnvelope>>,
    /// The trace the handler ran in, per call.
    traces: Mutex<Vec<TraceId>>,
    /// The events its after-commit hook saw, each with whether another connection already saw
    /// the event applied (the commit came first).
    committed: Mutex<Vec<(String, bool)>>,
    /// The database the hook looks in, once the handler consumes.
    db: Mutex<Option<Db>>,
}

impl Recorder {
    fn new(name: &'static str, poison: Option<&'static str>) -> Arc<Self> {
        Arc::new(Self {
            name,
            poison,
            refuse: None,
            calls: AtomicUsize::new(0),
            poison_calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            traces: Mutex::new(Vec::new()),
            committed: Mutex::new(Vec::new()),
            db: Mutex::new(None),
        })
    }

    /// A recorder that refuses every event of `event_type` as invalid input.
    fn refusing(name: &'static str, event_type: &'static str) -> Arc<Self> {
        let mut recorder = Arc::into_inner(Self::new(name, None)).unwrap();
        recorder.refuse = Some(event_type);
        Arc::new(recorder)
    }

    // Spelled out: diesel's `RunQueryDsl::load` is in scope too.
    fn calls(&self) -> usize {
        AtomicUsize::load(&self.calls, Ordering::SeqCst)
    }

    fn poison_calls(&self) -> usize {
        AtomicUsize::load(&self.poison_calls, Ordering::SeqCst)
    }

    fn committed(&self) -> Vec<(String, bool)> {
        self.committed.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventHandler for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn bindings(&self) -> Vec<String> {
        vec!["test.#".into()]
    }

    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(envelope.clone());
        self.traces
            .lock()
            .unwrap()
            .push(trace_id(&tracing::Span::current()));
        let event_id: uuid::Uuid = envelope.id.parse().map_err(Error::internal)?;
        diesel::insert_into(applied::table)
            .values((
                applied::event_id.eq(event_id),
                applied::event_type.eq(&envelope.event_type),
            ))
            .execute(conn)
            .await?;
        if self.poison == Some(envelope.event_type.as_str()) {
            self.poison_calls.fetch_add(1, Ordering::SeqCst);
            return Err(Error::internal(anyhow::anyhow!("fails on purpose")));
        }
        if self.refuse == Some(envelope.event_type.as_str()) {
            self.poison_calls.fetch_add(1, Ordering::SeqCst);
            return Err(Error::invalid_input(
                "test.refused",
                "This event is refused on purpose.",
            ));
        }
        Ok(())
    }

    async fn committed(&self, envelope: &EventEnvelope) {
        let db = self.db.lock().unwrap().clone().unwrap();
        let event_id: uuid::Uuid = envelope.id.parse().unwrap();
        let mut conn = db.conn().await.unwrap();
        let applied: i64 = applied::table
            .filter(applied::event_id.eq(event_id))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap();
        self.committed
            .lock()
            .unwrap()
            .push((envelope.id.clone(), applied == 1));
    }
}

/// One test's database, namespace and tasks.
struct Ctx {
    _test_db: TestDb,
    bus: TestBus,
    config: BusConfig,
    db: Db,
    shutdown: CancellationToken,
    consumers: Vec<JoinHandle<Result<(), Error>>>,
    relays: Vec<JoinHandle<()>>,
}

impl Ctx {
    async fn new(adjust: impl FnOnce(&mut BusConfig)) -> Self {
        df_common::telemetry::init_for_tests();
        let test_db = TestDb::new("common_bus", MIGRATIONS, &migrations_dir()).await;
        let bus = TestBus::new();
        let mut config = bus.config();
        adjust(&mut config);
        Self {
            db: test_db.db(),
            _test_db: test_db,
            bus,
            config,
            shutdown: CancellationToken::new(),
            consumers: Vec::new(),
            relays: Vec::new(),
        }
    }

    /// Starts `handler` on `bus` and waits until its queue has the consumer; returns the queue.
    async fn consume(&mut self, bus: &Bus, handler: Arc<Recorder>) -> String {
        let queue = self.bus.queue(SERVICE, handler.name);
        *handler.db.lock().unwrap() = Some(self.db.clone());
        self.consumers.push(spawn_consumer(
            self.db.clone(),
            bus.clone(),
            handler,
            &self.config,
            self.shutdown.clone(),
        ));
        self.bus.wait_for_consumer(&queue).await;
        queue
    }

    fn relay(&mut self, bus: &Bus) -> RelayHandle {
        let (handle, task) = OutboxRelay::spawn(
            self.db.clone(),
            bus.clone(),
            &self.config,
            self.shutdown.clone(),
        );
        self.relays.push(task);
        handle
    }

    /// Writes one event in its own transaction and wakes the relay.
    async fn emit<E: TestEvent>(&self, relay: &RelayHandle) -> EventId {
        let mut conn = self.db.conn().await.unwrap();
        let id = conn
            .transaction::<_, Error, _>(async |conn| {
                outbox::enqueue(conn, SERVICE, &E::about_user()).await
            })
            .await
            .unwrap();
        relay.notify();
        id
    }

    async fn applied_count(&self, id: EventId) -> i64 {
        let mut conn = self.db.conn().await.unwrap();
        applied::table
            .filter(applied::event_id.eq(id.as_uuid()))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }

    async fn backlog(&self) -> i64 {
        let mut conn = self.db.conn().await.unwrap();
        outbox::backlog(&mut conn).await.unwrap()
    }

    async fn in_inbox(&self, consumer: &str, id: EventId) -> bool {
        let mut conn = self.db.conn().await.unwrap();
        inbox::contains(&mut conn, consumer, id).await.unwrap()
    }

    /// Stops every task and checks that they ended cleanly (before the namespace is deleted).
    async fn stop(self) {
        self.shutdown.cancel();
        for consumer in self.consumers {
            let ended = tokio::time::timeout(WAIT, consumer).await;
            assert!(
                matches!(ended, Ok(Ok(Ok(())))),
                "consumer did not stop cleanly"
            );
        }
        for relay in self.relays {
            tokio::time::timeout(WAIT, relay).await.unwrap().unwrap();
        }
    }
}

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/migrations")
}

fn trace_id(span: &tracing::Span) -> TraceId {
    span.context().span().span_context().trace_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_outside_a_transaction_is_refused() {
    let t = Ctx::new(|_| {}).await;
    let mut conn = t.db.conn().await.unwrap();
    let error = outbox::enqueue(&mut conn, SERVICE, &Thing::about_user())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "common.bus_outside_transaction");
    let error = conn
        .transaction::<_, Error, _>(async |conn| {
            outbox::enqueue(conn, SERVICE, &Misnamed::about_user()).await
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), "common.bus_invalid_event_type");
    drop(conn);
    assert_eq!(t.backlog().await, 0);
    t.stop().await;
}

/// With an idle expiry, a consumer's queue and its dead-letter queue leave the broker once the
/// consumer is gone (test namespaces use this so no queue outlives its test); while consumed,
/// the queue stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_with_an_idle_expiry_leave_the_broker_once_unconsumed() {
    let mut t = Ctx::new(|c| c.idle_queue_expiry_ms = Some(1_000)).await;
    let bus = Bus::connect(&t.config, SERVICE);
    let queue = t.consume(&bus, Recorder::new("expiring", None)).await;
    let dead_letters = topology::dead_letter_queue(&queue);
    let relay = t.relay(&bus);
    let id = t.emit::<Registered>(&relay).await;
    eventually("the event is applied", async || {
        t.applied_count(id).await == 1
    })
    .await;
    assert!(t.bus.queue_exists(&queue).await);

    // Forgotten by the test namespace, which would delete them on drop: this test is about
    // what happens when nobody does.
    assert_eq!(
        topology::take_declared_queues(t.bus.namespace()),
        vec![queue.clone()]
    );
    t.stop().await;
    let probe = TestBus::new();
    eventually("the queue expired", async || {
        !probe.queue_exists(&queue).await
    })
    .await;
    eventually("the dead-letter queue expired", async || {
        !probe.queue_exists(&dead_letters).await
    })
    .await;
}

/// A test's bus namespace deletes the queues its consumers declared, with their dead-letter
/// queues, without being told their names: no queue of a passed test stays on the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_namespace_takes_the_queues_its_consumers_declared_with_it() {
    // The test settings' idle expiry (ten minutes) cannot be what removes them here.
    let mut t = Ctx::new(|_| {}).await;
    let bus = Bus::connect(&t.config, SERVICE);
    let queue = t.consume(&bus, Recorder::new("declared", None)).await;
    let dead_letters = topology::dead_letter_queue(&queue);
    assert!(t.bus.queue_exists(&queue).await);
    assert!(t.bus.queue_exists(&dead_letters).await);

    // Stopping the consumers drops the namespace, which cleans up before it returns.
    t.stop().await;
    let probe = TestBus::new();
    assert!(!probe.queue_exists(&queue).await);
    assert!(!probe.queue_exists(&dead_letters).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_relayed_and_applied_exactly_once() {
    // One message in flight at a time, so the order of settlement is the order of the queue.
    let mut t = Ctx::new(|c| c.prefetch = 1).await;
    let recorder = Recorder::new("exactly_once", None);
    let bus = Bus::connect(&t.config, SERVICE);
    t.consume(&bus, Arc::clone(&recorder)).await;
    let relay = t.relay(&bus);

    // Written during a traced request, whose trace the consumer continues.
    let request = tracing::info_span!("request");
    let request_trace = trace_id(&request);
    assert_ne!(request_trace, TraceId::INVALID);
    let id = t.emit::<Registered>(&relay).instrument(request).await;
    eventually("the event is applied and leaves the outbox", async || {
        t.applied_count(id).await == 1 && t.backlog().await == 0
    })
    .await;
    assert!(bus.is_connected().await);

    let envelope = recorder.seen.lock().unwrap()[0].clone();
    assert_eq!(envelope.id, id.to_string());
    assert_eq!(envelope.event_type, "test.user.registered");
    assert_eq!(envelope.source, SERVICE);
    assert!(envelope.occurred_at.is_some());
    assert_eq!(
        Registered::decode(envelope.payload.as_slice()).unwrap(),
        Registered::about_user()
    );
    assert!(
        envelope.trace_context["traceparent"].contains(&request_trace.to_string()),
        "the envelope does not carry the request's trace"
    );
    assert_eq!(recorder.traces.lock().unwrap()[0], request_trace);

    // The same envelope twice more, as a redelivery or a republished outbox row would be.
    let copy = envelope.encode_to_vec();
    t.bus.publish("test.user.registered", &copy).await;
    t.bus.publish("test.user.registered", &copy).await;
    // With prefetch 1, this later event is delivered only after both copies were settled.
    let later = t.emit::<Registered>(&relay).await;
    eventually("the later event is applied", async || {
        t.applied_count(later).await == 1
    })
    .await;

    assert_eq!(t.applied_count(id).await, 1, "a copy was applied again");
    assert_eq!(recorder.calls(), 2, "the handler ran for a copy");
    // The after-commit hook ran once per applied event, after its commit, never for a copy.
    eventually("the later event's hook ran", async || {
        recorder.committed().len() >= 2
    })
    .await;
    assert_eq!(
        recorder.committed(),
        [(id.to_string(), true), (later.to_string(), true)]
    );
    assert!(t.in_inbox("exactly_once", id).await);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_written_while_the_broker_is_unreachable_is_delivered_once_it_is_back() {
    let mut t = Ctx::new(|_| {}).await;
    let proxy = TcpProxy::in_front_of(&t.bus.broker_addr()).await;
    proxy.cut();
    let relay_bus = Bus::connect(&t.bus.config_for(&t.bus.url_via(proxy.addr())), SERVICE);
    let consumer_bus = Bus::connect(&t.config, SERVICE);
    let recorder = Recorder::new("after_outage", None);
    t.consume(&consumer_bus, Arc::clone(&recorder)).await;
    let relay = t.relay(&relay_bus);

    let id = t.emit::<Registered>(&relay).await;
    assert!(!relay_bus.is_connected().await);
    assert_eq!(t.backlog().await, 1);
    assert_eq!(t.applied_count(id).await, 0);

    proxy.restore();
    eventually(
        "the event is applied after the broker is back",
        async || t.applied_count(id).await == 1 && t.backlog().await == 0,
    )
    .await;
    assert!(relay_bus.is_connected().await);
    assert_eq!(t.applied_count(id).await, 1);
    assert_eq!(recorder.calls(), 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_applied_once_across_a_connection_reset() {
    const EVENTS: usize = 40;
    let mut t = Ctx::new(|_| {}).await;
    let proxy = TcpProxy::in_front_of(&t.bus.broker_addr()).await;
    // Relay and consumer share the proxied connection: the reset hits both.
    let bus = Bus::connect(&t.bus.config_for(&t.bus.url_via(proxy.addr())), SERVICE);
    let recorder = Recorder::new("across_reset", None);
    t.consume(&bus, Arc::clone(&recorder)).await;
    let relay = t.relay(&bus);

    let mut ids = Vec::new();
    for _ in 0..EVENTS / 2 {
        ids.push(t.emit::<Registered>(&relay).await);
    }
    eventually("events are flowing", async || {
        t.applied_count(ids[0]).await == 1
    })
    .await;
    proxy.reset_connections();
    for _ in EVENTS / 2..EVENTS {
        ids.push(t.emit::<Registered>(&relay).await);
    }

    eventually("every event is applied", async || {
        let mut conn = t.db.conn().await.unwrap();
        let applied: Vec<uuid::Uuid> = applied::table
            .select(applied::event_id)
            .load(&mut conn)
            .await
            .unwrap();
        let distinct: HashSet<_> = applied.into_iter().collect();
        distinct.len() == EVENTS && t.backlog().await == 0
    })
    .await;
    for id in &ids {
        assert_eq!(t.applied_count(*id).await, 1, "event {id} applied twice");
    }
    assert!(bus.is_connected().await);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_always_fails_is_dead_lettered_while_others_flow() {
    let mut t = Ctx::new(|c| {
        c.delivery_limit = 3;
        // Long enough that the poisoned message is still retrying when the others are done.
        c.retry_base_ms = 300;
        c.retry_max_ms = 1_000;
    })
    .await;
    let recorder = Recorder::new("poisoned", Some("test.poison"));
    let bus = Bus::connect(&t.config, SERVICE);
    let queue = t.consume(&bus, Arc::clone(&recorder)).await;
    let relay = t.relay(&bus);

    let poison = t.emit::<Poison>(&relay).await;
    let mut good = Vec::new();
    for _ in 0..5 {
        good.push(t.emit::<Good>(&relay).await);
    }
    eventually("the good events are applied", async || {
        for id in &good {
            if t.applied_count(*id).await != 1 {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        t.bus.take_dead_letters(&queue).await.is_empty(),
        "the poisoned message should still be retrying while the others went through"
    );

    let letters = t.bus.wait_for_dead_letters(&queue, 1).await;
    assert_eq!(letters.len(), 1);
    let dead = bus::decode_envelope(&letters[0].body).unwrap();
    assert_eq!(dead.id, poison.to_string());
    assert_eq!(letters[0].reason.as_deref(), Some("delivery_limit"));
    // Delivered, then redelivered after each of three returns (the limit); the fourth return
    // exceeds the limit, so the broker dead-letters it instead.
    assert_eq!(recorder.poison_calls(), 4);
    // Each failed attempt was rolled back: nothing applied, nothing in the inbox, and the
    // after-commit hook never ran for it.
    assert_eq!(t.applied_count(poison).await, 0);
    let committed: Vec<String> = recorder.committed().into_iter().map(|(id, _)| id).collect();
    assert!(!committed.contains(&poison.to_string()), "{committed:?}");
    assert_eq!(committed.len(), good.len(), "{committed:?}");
    assert!(!t.in_inbox("poisoned", poison).await);
    assert_eq!(t.bus.queue_len(&queue).await, 0);
    t.stop().await;
}

/// A refusal as invalid input is permanent: the event is dead-lettered on its first delivery,
/// with nothing applied, instead of being retried up to the delivery limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_refused_as_invalid_goes_straight_to_the_dead_letter_queue() {
    let mut t = Ctx::new(|c| c.delivery_limit = 5).await;
    let recorder = Recorder::refusing("refusing", "test.refused");
    let bus = Bus::connect(&t.config, SERVICE);
    let queue = t.consume(&bus, Arc::clone(&recorder)).await;
    let relay = t.relay(&bus);

    let refused = t.emit::<Refused>(&relay).await;
    let letters = t.bus.wait_for_dead_letters(&queue, 1).await;
    assert_eq!(letters.len(), 1);
    let dead = bus::decode_envelope(&letters[0].body).unwrap();
    assert_eq!(dead.id, refused.to_string());
    assert_eq!(letters[0].reason.as_deref(), Some("rejected"));
    assert_eq!(recorder.poison_calls(), 1, "refused once, never retried");
    assert_eq!(t.applied_count(refused).await, 0);
    assert!(!t.in_inbox("refusing", refused).await);

    // The consumer carries on.
    let good = t.emit::<Good>(&relay).await;
    eventually("the next event is applied", async || {
        t.applied_count(good).await == 1
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_goes_straight_to_the_dead_letter_queue() {
    let mut t = Ctx::new(|_| {}).await;
    let recorder = Recorder::new("strict", None);
    let bus = Bus::connect(&t.config, SERVICE);
    let queue = t.consume(&bus, Arc::clone(&recorder)).await;
    let relay = t.relay(&bus);

    let garbage = vec![0xff, 0xff, 0xff];
    let no_id = EventEnvelope {
        id: "not-a-uuid".into(),
        event_type: "test.user.registered".into(),
        ..EventEnvelope::default()
    }
    .encode_to_vec();
    t.bus.publish("test.garbage", &garbage).await;
    t.bus.publish("test.user.registered", &no_id).await;

    let letters = t.bus.wait_for_dead_letters(&queue, 2).await;
    let mut bodies: Vec<_> = letters.iter().map(|l| l.body.clone()).collect();
    bodies.sort();
    let mut expected = vec![garbage, no_id];
    expected.sort();
    assert_eq!(bodies, expected);
    // Rejected on the first delivery, not after exhausting the retries.
    for letter in &letters {
        assert_eq!(letter.reason.as_deref(), Some("rejected"));
    }
    assert_eq!(recorder.calls(), 0);

    // The consumer carries on.
    let id = t.emit::<Registered>(&relay).await;
    eventually("a good event after the bad ones is applied", async || {
        t.applied_count(id).await == 1
    })
    .await;
    assert_eq!(
        topology::dead_letter_queue(&queue),
        format!("{}{SERVICE}.strict.dlq", t.bus.namespace())
    );
    t.stop().await;
}
