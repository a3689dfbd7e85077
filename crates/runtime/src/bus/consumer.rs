//! Consumers: one task per [`EventHandler`], consuming its quorum queue with manual acks.
//!
//! Deliveries are processed concurrently, up to `bus.prefetch` at a time, so a message that
//! keeps failing (and waits out its back-off) never holds up the others. For each delivery:
//!
//! - an undecodable body is rejected without requeue, so the broker dead-letters it at once;
//! - so is an event its handler refuses as invalid input (`ErrorKind::InvalidInput`): the
//!   same bytes would be refused again, so retrying would only delay the dead letter;
//! - otherwise, in one transaction, the event id goes into the inbox and the handler runs; an
//!   id already in the inbox means the event was applied before, and it is only acknowledged;
//! - a handler error rolls the transaction back, waits `retry_base_ms * 2^deliveries` (capped at
//!   `retry_max_ms`, jittered; quorum queues count deliveries in `x-delivery-count`) and returns
//!   the message to the queue; the broker dead-letters it after `delivery_limit` deliveries.
//!
//! When the connection drops, unacknowledged messages go back to the queue; the task waits for
//! the bus to reconnect and consumes again. Logs name the event id and type, never the payload.

use crate::backoff;
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures::StreamExt;
use lapin::{
    BasicProperties,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicQosOptions, BasicRejectOptions,
    },
    types::{AMQPValue, FieldTable},
};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    Bus, EventEnvelope,
    envelope::{decode_envelope, envelope_id},
    inbox, timed_out,
    topology::{self, QueueSpec},
    unavailable,
};
use df_common::{
    error::{Error, ErrorKind},
    ids::EventId,
    telemetry::{metrics, propagation},
};

use crate::{
    config::BusConfig,
    db::{Db, PooledConn},
};

/// First delay before consuming again after the consumer stopped.
const RESUME_BASE: Duration = Duration::from_millis(100);

/// Applies one kind of event. Implementations are registered with [`spawn_consumer`].
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Stable consumer name: the queue is `<ns><service>.<name>` and the inbox key is the name,
    /// so renaming a handler gives it a new, empty queue and forgets what it processed.
    fn name(&self) -> &'static str;

    /// Routing-key patterns to listen to (`identity.user.*`, `moderation.#`).
    fn bindings(&self) -> Vec<String>;

    /// Applies `envelope`. Runs inside the transaction that records the event in the inbox, so
    /// its writes on `conn` commit together with that record, or not at all when it returns an
    /// error (the message is then retried). It must not commit on its own.
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), Error>;

    /// Runs after the transaction of [`EventHandler::handle`] committed (never for an event the
    /// inbox already had), for what may only follow a commit, such as moving cache keys. It is
    /// not retried: what it does must also come about on its own, as cached values expire.
    async fn committed(&self, _envelope: &EventEnvelope) {}
}

/// Spawns the consumer of `handler`. The task ends with `Ok` after `shutdown` fired and the
/// deliveries in progress finished, or at once with an error when the handler's name or
/// bindings are invalid.
pub fn spawn_consumer(
    db: Db,
    bus: Bus,
    handler: Arc<dyn EventHandler>,
    config: &BusConfig,
    shutdown: CancellationToken,
) -> JoinHandle<Result<(), Error>> {
    let worker = Arc::new(Worker {
        db,
        bus,
        handler,
        prefetch: config.prefetch,
        delivery_limit: config.delivery_limit,
        retry_base: Duration::from_millis(config.retry_base_ms),
        retry_max: Duration::from_millis(config.retry_max_ms),
        resume_max: Duration::from_millis(config.reconnect_max_ms),
        idle_queue_expiry_ms: config.idle_queue_expiry_ms,
    });
    tokio::spawn(worker.run(shutdown))
}

struct Worker {
    db: Db,
    bus: Bus,
    handler: Arc<dyn EventHandler>,
    prefetch: u16,
    delivery_limit: u32,
    retry_base: Duration,
    retry_max: Duration,
    resume_max: Duration,
    idle_queue_expiry_ms: Option<u64>,
}

impl Worker {
    async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), Error> {
        let spec = QueueSpec::new(
            self.bus.namespace(),
            self.bus.service(),
            self.handler.name(),
            self.handler.bindings(),
            self.delivery_limit,
        )?
        .with_idle_expiry(self.idle_queue_expiry_ms);
        let mut tasks = JoinSet::new();
        let mut failures: u32 = 0;
        loop {
            if self.bus.wait_connected(&shutdown).await.is_none() {
                break;
            }
            match self
                .session(&spec, &mut tasks, &shutdown, &mut failures)
                .await
            {
                Ok(()) => break,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let cause = error.cause().map(|c| format!("{c:#}")).unwrap_or_default();
                    tracing::warn!(
                        consumer = self.handler.name(),
                        code = error.code(),
                        cause,
                        "consumer stopped; resuming"
                    );
                }
            }
            let delay = backoff::delay(RESUME_BASE, failures.saturating_sub(1), self.resume_max);
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    /// Consumes on one channel until it breaks (`Err`) or `shutdown` fires (`Ok`).
    async fn session(
        self: &Arc<Self>,
        spec: &QueueSpec,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
        failures: &mut u32,
    ) -> Result<(), Error> {
        let channel = self.bus.channel().await?;
        self.bus.declare_queue(&channel, spec).await?;
        let op = self.bus.op_timeout();
        tokio::time::timeout(
            op,
            channel.basic_qos(self.prefetch, BasicQosOptions::default()),
        )
        .await
        .map_err(|_| timed_out("setting the prefetch"))?
        .map_err(|e| unavailable("setting the prefetch", e))?;
        let mut deliveries = tokio::time::timeout(
            op,
            channel.basic_consume(
                topology::short(&spec.queue)?,
                // The broker picks a unique tag.
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await
        .map_err(|_| timed_out("starting to consume"))?
        .map_err(|e| unavailable("starting to consume", e))?;
        *failures = 0;
        tracing::info!(consumer = self.handler.name(), queue = %spec.queue, "consuming");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    let cancel = channel.basic_cancel(deliveries.tag(), BasicCancelOptions::default());
                    let _ = tokio::time::timeout(op, cancel).await;
                    // Deliveries in progress still need this channel to settle their messages.
                    while tasks.join_next().await.is_some() {}
                    let _ = tokio::time::timeout(op, channel.close(200, "shutdown".into())).await;
                    return Ok(());
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        tasks.spawn(Arc::clone(self).process(delivery, shutdown.clone()));
                    }
                    Some(Err(e)) => return Err(unavailable("consuming", e)),
                    None => return Err(unavailable("consuming", "the broker cancelled the consumer")),
                },
            }
        }
    }

    /// Settles one delivery: ack when applied (now or before), nack after a failure, reject
    /// when undecodable or refused as invalid.
    async fn process(self: Arc<Self>, delivery: Delivery, shutdown: CancellationToken) {
        let consumer = self.handler.name();
        let decoded =
            decode_envelope(&delivery.data).and_then(|e| envelope_id(&e).map(|id| (e, id)));
        let (envelope, event_id) = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::warn!(
                    consumer,
                    routing_key = %delivery.routing_key,
                    code = error.code(),
                    "undecodable message sent to the dead-letter queue"
                );
                self.count_dead_letter("undecodable");
                let reject = delivery.acker.reject(BasicRejectOptions { requeue: false });
                self.tell_broker("reject", reject).await;
                return;
            }
        };
        let span = tracing::info_span!(
            "bus.consume",
            consumer,
            event_id = %event_id,
            event_type = %envelope.event_type,
        );
        // Before the span is entered, so that it continues the producer's trace.
        propagation::set_parent_from_map(&span, &envelope.trace_context);
        self.settle(delivery, envelope, event_id, shutdown)
            .instrument(span)
            .await;
    }

    async fn settle(
        &self,
        delivery: Delivery,
        envelope: EventEnvelope,
        event_id: EventId,
        shutdown: CancellationToken,
    ) {
        let consumer = self.handler.name();
        let event_type = envelope.event_type.as_str();
        match self.apply(&envelope, event_id, &shutdown).await {
            Ok(applied) => {
                tracing::debug!(consumer, %event_id, event_type, applied, "event settled");
                // If the ack is lost, the broker redelivers the event and the inbox skips it.
                let ack = delivery.acker.ack(BasicAckOptions::default());
                self.tell_broker("ack", ack).await;
            }
            Err(error) if error.kind() == ErrorKind::InvalidInput => {
                let cause = error.cause().map(|c| format!("{c:#}")).unwrap_or_default();
                tracing::error!(consumer, %event_id, event_type, code = error.code(), cause, "event refused by its handler; it goes to the dead-letter queue");
                self.count_dead_letter("refused");
                let reject = delivery.acker.reject(BasicRejectOptions { requeue: false });
                self.tell_broker("reject", reject).await;
            }
            Err(error) => {
                let deliveries = delivery_count(&delivery.properties);
                let cause = error.cause().map(|c| format!("{c:#}")).unwrap_or_default();
                if deliveries >= self.delivery_limit {
                    self.count_dead_letter("delivery_limit");
                    tracing::error!(consumer, %event_id, event_type, deliveries, code = error.code(), cause, "event handler failed for the last time; the event goes to the dead-letter queue");
                } else {
                    tracing::warn!(consumer, %event_id, event_type, deliveries, code = error.code(), cause, "event handler failed; retrying");
                }
                let delay = backoff::delay(self.retry_base, deliveries, self.retry_max);
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(delay) => {}
                }
                let nack = delivery.acker.nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                });
                self.tell_broker("nack", nack).await;
            }
        }
    }

    /// Sends an ack, nack or reject, waiting at most the operation timeout: a delivery taken on
    /// a connection that has since died is never answered, and would otherwise hold up the
    /// drain at shutdown. A settlement that does not arrive is harmless: the broker returns
    /// the unsettled message to the queue, and the inbox skips it if it was applied.
    async fn tell_broker(
        &self,
        what: &'static str,
        settle: impl Future<Output = Result<bool, lapin::Error>>,
    ) {
        let consumer = self.handler.name();
        match tokio::time::timeout(self.bus.op_timeout(), settle).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(consumer, what, error = %e, "settlement failed; the message will come back");
            }
            Err(_) => {
                tracing::debug!(
                    consumer,
                    what,
                    "settlement timed out; the message will come back"
                );
            }
        }
    }

    /// `df_bus_dead_letters_total{consumer, reason}`, as this consumer sees it: messages it
    /// rejected, and failures on the delivery the broker will not repeat.
    fn count_dead_letter(&self, reason: &str) {
        match metrics::counter_vec(
            "df_bus_dead_letters_total",
            "Messages sent to a dead-letter queue.",
            &["consumer", "reason"],
        ) {
            Ok(counter) => counter
                .with_label_values(&[self.handler.name(), reason])
                .inc(),
            Err(error) => tracing::debug!(code = error.code(), "dead-letter metric unavailable"),
        }
    }

    /// Applies the event once: true when the handler ran, false when the inbox already had it.
    async fn apply(
        &self,
        envelope: &EventEnvelope,
        event_id: EventId,
        shutdown: &CancellationToken,
    ) -> Result<bool, Error> {
        let mut conn = self.connection(shutdown).await?;
        let handler = &self.handler;
        let consumer = handler.name();
        let applied = conn
            .transaction::<_, Error, _>(async |conn| {
                if !inbox::record(conn, consumer, event_id).await? {
                    return Ok(false);
                }
                handler.handle(conn, envelope).await?;
                Ok(true)
            })
            .await?;
        // The connection goes back first: the hook may need one of its own.
        drop(conn);
        if applied {
            handler.committed(envelope).await;
        }
        Ok(applied)
    }

    /// A database connection, waiting out an outage instead of spending the message's
    /// deliveries on it.
    async fn connection(&self, shutdown: &CancellationToken) -> Result<PooledConn, Error> {
        let mut attempt: u32 = 0;
        loop {
            let error = match self.db.conn().await {
                Ok(conn) => return Ok(conn),
                Err(error) => error,
            };
            if attempt == 0 {
                tracing::warn!(
                    consumer = self.handler.name(),
                    code = error.code(),
                    "database unavailable; holding deliveries"
                );
            }
            let delay = backoff::delay(self.retry_base, attempt, self.retry_max);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = shutdown.cancelled() => return Err(error),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}

/// Deliveries so far, from the quorum queue's `x-delivery-count` header (absent the first time).
fn delivery_count(properties: &BasicProperties) -> u32 {
    let Some(value) = properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get("x-delivery-count"))
    else {
        return 0;
    };
    let count = match value {
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::ShortInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u32::from(*n)),
        AMQPValue::ShortShortInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortShortUInt(n) => Some(u32::from(*n)),
        _ => None,
    };
    count.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_count_reads_any_integer_header() {
        assert_eq!(delivery_count(&BasicProperties::default()), 0);
        for (value, expected) in [
            (AMQPValue::LongLongInt(3), 3),
            (AMQPValue::LongInt(2), 2),
            (AMQPValue::ShortShortUInt(1), 1),
            (AMQPValue::LongLongInt(-1), 0),
            (AMQPValue::LongString("7".into()), 0),
        ] {
            let mut headers = FieldTable::default();
            headers.insert("x-delivery-count".into(), value);
            let properties = BasicProperties::default().with_headers(headers);
            assert_eq!(delivery_count(&properties), expected);
        }
    }
}
