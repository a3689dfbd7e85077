//! The outbox relay: publishes outbox rows to the broker and deletes each one only after the
//! broker confirmed it.
//!
//! Each round locks a batch with `FOR UPDATE SKIP LOCKED` (so replicas share the work without
//! publishing the same row twice at once), publishes it in `(created_at, id)` order on one
//! channel in confirm mode, waits for the confirms within `bus.publish_timeout_ms`, deletes the
//! acknowledged rows and counts an attempt (with a reason, never a secret) on the others. A row
//! may be published twice (a confirm lost with the connection); consumers' inboxes absorb that.
//!
//! The relay runs when woken by [`RelayHandle::notify`] (right after a commit), every
//! `bus.outbox_poll_ms` otherwise, immediately again after a full batch, and with growing
//! back-off after failures. While the broker is unreachable it waits for the connection instead
//! of touching the database.

use crate::backoff;
use std::{sync::Arc, time::Duration};

use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::{AsyncConnection, RunQueryDsl};
use lapin::{
    BasicProperties, Channel, Confirmation,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::{AMQPValue, FieldTable, LongString, ShortString},
};
use prometheus::IntGauge;
use prost::Message;
use tokio::{sync::Notify, task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{Bus, CONTENT_TYPE, EventEnvelope, schema::outbox, timed_out, topology, unavailable};
use df_common::{error::Error, ids::EventId, telemetry::metrics};

use crate::{config::BusConfig, db::Db};

/// First delay after a failed round; doubled per consecutive failure.
const RETRY_BASE: Duration = Duration::from_millis(100);
/// How often the backlog metric is refreshed while the broker is unreachable.
const BACKLOG_REFRESH: Duration = Duration::from_secs(5);
/// How often, at most, a busy relay counts the backlog for the metric: a count scans the
/// outbox, which under load would cost more than the rounds themselves.
const BACKLOG_COUNT_EVERY: Duration = Duration::from_secs(1);
/// AMQP persistent delivery mode: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// Longest `last_error` kept, so a chatty error cannot bloat the table.
const MAX_ERROR_LEN: usize = 500;

/// Starts the relay task of a service.
#[derive(Debug)]
pub struct OutboxRelay;

/// Wakes the relay; cheap to clone.
#[derive(Clone, Debug)]
pub struct RelayHandle {
    wake: Arc<Notify>,
}

impl RelayHandle {
    /// Asks the relay to look at the outbox now; call it after committing a transaction that
    /// enqueued events. Wake-ups while the relay is busy coalesce into one more round.
    pub fn notify(&self) {
        self.wake.notify_one();
    }
}

impl OutboxRelay {
    /// Spawns the relay. It stops after the round in progress when `shutdown` fires.
    pub fn spawn(
        db: Db,
        bus: Bus,
        config: &BusConfig,
        shutdown: CancellationToken,
    ) -> (RelayHandle, JoinHandle<()>) {
        let wake = Arc::new(Notify::new());
        let bus_service = bus.service();
        let relay = Relay {
            exchange: topology::events_exchange(bus.namespace()),
            db,
            bus,
            batch: config.outbox_batch,
            poll: Duration::from_millis(config.outbox_poll_ms),
            publish_timeout: Duration::from_millis(config.publish_timeout_ms),
            retry_max: Duration::from_millis(config.reconnect_max_ms),
            wake: Arc::clone(&wake),
            channel: None,
            backlog: backlog_gauge(bus_service),
            backlog_counted: None,
        };
        let task = tokio::spawn(relay.run(shutdown));
        (RelayHandle { wake }, task)
    }
}

struct Relay {
    db: Db,
    bus: Bus,
    exchange: String,
    batch: i64,
    poll: Duration,
    publish_timeout: Duration,
    retry_max: Duration,
    wake: Arc<Notify>,
    /// The confirm-mode channel and the generation of its connection.
    channel: Option<(Channel, u64)>,
    /// `df_<service>_outbox_backlog`, when the service name makes a valid metric name.
    backlog: Option<IntGauge>,
    /// When the backlog was last counted after a round.
    backlog_counted: Option<Instant>,
}

#[derive(diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
struct Pending {
    id: EventId,
    event_type: String,
    payload: Vec<u8>,
}

/// What became of one row in a round.
enum Fate {
    Acked,
    Failed {
        reason: String,
        timed_out: bool,
    },
    /// Not sent because an earlier send failed; keeps its place for the next round.
    Untried,
}

#[derive(Default)]
struct Round {
    fetched: usize,
    published: usize,
    failed: usize,
    timed_out: bool,
}

impl Relay {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            let waited = tokio::time::timeout(
                self.poll.max(BACKLOG_REFRESH),
                self.bus.wait_connected(&shutdown),
            )
            .await;
            match waited {
                Ok(Some(_)) => {}
                Ok(None) => break,
                // The backlog grows while the broker is away: keep the metric current.
                Err(_) => {
                    self.refresh_backlog().await;
                    continue;
                }
            }
            // A round is not interrupted: it is bounded by the publish timeout, and dropping it
            // midway would leave its transaction to the pool's clean-up.
            let delay = match self.round().await {
                Ok(round) if round.failed == 0 => {
                    failures = 0;
                    if round.published > 0 {
                        tracing::debug!(published = round.published, "outbox relayed");
                    }
                    if i64::try_from(round.fetched).unwrap_or(i64::MAX) >= self.batch {
                        continue;
                    }
                    None
                }
                Ok(round) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        published = round.published,
                        failed = round.failed,
                        attempt = failures,
                        "some outbox events were not confirmed; retrying later"
                    );
                    Some(backoff::delay(
                        RETRY_BASE,
                        failures.saturating_sub(1),
                        self.retry_max,
                    ))
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.channel = None;
                    let cause = error.cause().map(|c| format!("{c:#}")).unwrap_or_default();
                    tracing::warn!(
                        code = error.code(),
                        cause,
                        attempt = failures,
                        "outbox relay round failed"
                    );
                    Some(backoff::delay(
                        RETRY_BASE,
                        failures.saturating_sub(1),
                        self.retry_max,
                    ))
                }
            };
            match delay {
                // After a failure, wake-ups are ignored so that a burst of commits cannot turn the
                // back-off into a hot loop.
                Some(delay) => tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                },
                None => tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.poll) => {}
                },
            }
        }
    }

    async fn round(&mut self) -> Result<Round, Error> {
        let (channel, generation) = self.confirm_channel().await?;
        let exchange = topology::short(&self.exchange)?;
        let app_id = ShortString::try_new(self.bus.service()).ok();
        let (batch, timeout) = (self.batch, self.publish_timeout);
        let mut conn = self.db.conn().await?;
        let round = conn
            .transaction::<_, Error, _>(async |conn| {
                let pending: Vec<Pending> = outbox::table
                    .select(Pending::as_select())
                    .order((outbox::created_at.asc(), outbox::id.asc()))
                    .limit(batch)
                    .for_update()
                    .skip_locked()
                    .load(conn)
                    .await?;
                if pending.is_empty() {
                    return Ok(Round::default());
                }
                let fates = publish(&channel, &exchange, app_id.as_ref(), &pending, timeout).await;
                let mut round = Round {
                    fetched: pending.len(),
                    ..Round::default()
                };
                let mut acked = Vec::new();
                for (row, fate) in pending.iter().zip(fates) {
                    match fate {
                        Fate::Acked => acked.push(row.id),
                        Fate::Failed { reason, timed_out } => {
                            round.failed += 1;
                            round.timed_out |= timed_out;
                            diesel::update(outbox::table.find(row.id))
                                .set((
                                    outbox::attempts.eq(outbox::attempts + 1),
                                    outbox::last_error.eq(truncate(reason)),
                                ))
                                .execute(conn)
                                .await?;
                        }
                        Fate::Untried => {}
                    }
                }
                if !acked.is_empty() {
                    diesel::delete(outbox::table.filter(outbox::id.eq_any(&acked)))
                        .execute(conn)
                        .await?;
                }
                round.published = acked.len();
                Ok(round)
            })
            .await?;
        drop(conn);
        // An idle relay's count is cheap (the outbox is empty or nearly) and keeps the metric
        // exact at rest; a busy one counts at most once per `BACKLOG_COUNT_EVERY`.
        if round.fetched == 0
            || self
                .backlog_counted
                .is_none_or(|at| at.elapsed() >= BACKLOG_COUNT_EVERY)
        {
            self.refresh_backlog().await;
            self.backlog_counted = Some(Instant::now());
        }
        if round.failed > 0 {
            // Start the next round on a fresh channel; a hung link is replaced altogether.
            self.channel = None;
            if round.timed_out {
                self.bus.report_suspect(generation);
            }
        }
        Ok(round)
    }

    async fn refresh_backlog(&self) {
        let Some(gauge) = &self.backlog else {
            return;
        };
        if let Ok(mut conn) = self.db.conn().await
            && let Ok(remaining) = super::outbox::backlog(&mut conn).await
        {
            gauge.set(remaining);
        }
    }

    /// The relay's channel in confirm mode, opened again after it broke.
    async fn confirm_channel(&mut self) -> Result<(Channel, u64), Error> {
        if let Some((channel, generation)) = &self.channel
            && channel.status().connected()
        {
            return Ok((channel.clone(), *generation));
        }
        self.channel = None;
        let (channel, generation) = self.bus.channel_with_generation().await?;
        match tokio::time::timeout(
            self.publish_timeout,
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(unavailable("enabling publisher confirms", e)),
            Err(_) => {
                self.bus.report_suspect(generation);
                return Err(timed_out("enabling publisher confirms"));
            }
        }
        self.channel = Some((channel.clone(), generation));
        Ok((channel, generation))
    }
}

/// Publishes `rows` in order and waits for their confirms until one shared deadline.
async fn publish(
    channel: &Channel,
    exchange: &ShortString,
    app_id: Option<&ShortString>,
    rows: &[Pending],
    timeout: Duration,
) -> Vec<Fate> {
    let deadline = Instant::now() + timeout;
    let mut fates: Vec<Fate> = rows.iter().map(|_| Fate::Untried).collect();
    let mut confirms = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let Ok(routing_key) = topology::short(&row.event_type) else {
            fates[index] = Fate::Failed {
                reason: "event type is longer than 255 bytes".into(),
                timed_out: false,
            };
            continue;
        };
        let sent = tokio::time::timeout_at(
            deadline,
            channel.basic_publish(
                exchange.clone(),
                routing_key.clone(),
                BasicPublishOptions::default(),
                &row.payload,
                properties(row, routing_key, app_id),
            ),
        )
        .await;
        match sent {
            Ok(Ok(confirm)) => confirms.push((index, confirm)),
            // Later rows stay untried, so they are not published ahead of this one.
            Ok(Err(e)) => {
                fates[index] = Fate::Failed {
                    reason: format!("publish failed: {e}"),
                    timed_out: false,
                };
                break;
            }
            Err(_) => {
                fates[index] = Fate::Failed {
                    reason: "publish timed out".into(),
                    timed_out: true,
                };
                break;
            }
        }
    }
    for (index, confirm) in confirms {
        fates[index] = match tokio::time::timeout_at(deadline, confirm).await {
            Ok(Ok(Confirmation::Ack(_))) => Fate::Acked,
            Ok(Ok(Confirmation::Nack(_))) => Fate::Failed {
                reason: "the broker refused the message".into(),
                timed_out: false,
            },
            Ok(Ok(Confirmation::NotRequested)) => Fate::Failed {
                reason: "publisher confirms are not enabled".into(),
                timed_out: false,
            },
            Ok(Err(e)) => Fate::Failed {
                reason: format!("confirm failed: {e}"),
                timed_out: false,
            },
            Err(_) => Fate::Failed {
                reason: "no publisher confirm within bus.publish_timeout_ms".into(),
                timed_out: true,
            },
        };
    }
    fates
}

/// Persistent, typed, identified by the event id, with the trace context as headers.
fn properties(
    row: &Pending,
    routing_key: ShortString,
    app_id: Option<&ShortString>,
) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Ok(envelope) = EventEnvelope::decode(row.payload.as_slice()) {
        for (key, value) in envelope.trace_context {
            if let Ok(key) = ShortString::try_new(key) {
                headers.insert(key, AMQPValue::LongString(LongString::from(value)));
            }
        }
    }
    let properties = BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type(ShortString::from(CONTENT_TYPE))
        .with_message_id(ShortString::from(row.id.to_string()))
        .with_type(routing_key)
        .with_headers(headers);
    match app_id {
        Some(app_id) => properties.with_app_id(app_id.clone()),
        None => properties,
    }
}

fn backlog_gauge(service: &str) -> Option<IntGauge> {
    let name = metrics::metric_name(service, "outbox_backlog");
    match metrics::int_gauge(
        &name,
        "Events in the outbox not yet confirmed by the broker.",
    ) {
        Ok(gauge) => Some(gauge),
        Err(error) => {
            tracing::debug!(
                code = error.code(),
                "no outbox backlog metric for this service name"
            );
            None
        }
    }
}

fn truncate(mut reason: String) -> String {
    if reason.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}
