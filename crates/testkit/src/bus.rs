//! A RabbitMQ namespace per test, so parallel tests on the one broker never see each other's
//! exchanges, queues or messages, plus helpers to publish raw messages and read queues.
//!
//! The exchanges of the namespace and every queue a consumer of this process declared in it
//! (with its dead-letter queue) are deleted when the [`TestBus`] is dropped. Stop the test's
//! consumers before that, or they declare their queue again.

use std::{net::SocketAddr, time::Duration};

use df_runtime::{
    bus::{EventEnvelope, decode_envelope, topology},
    config::BusConfig,
};
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    options::{
        BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
        ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
};

/// Broker URL of the machine's RabbitMQ (override with `DF_TEST_AMQP_URL`).
pub fn server_url() -> String {
    std::env::var("DF_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// How long the broker keeps a test's queue once nothing consumes it: longer than any test
/// runs (nextest kills a test after three minutes).
const IDLE_QUEUE_EXPIRY: Duration = Duration::from_secs(10 * 60);

/// A message read from a dead-letter queue.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// The message body, as published.
    pub body: Vec<u8>,
    /// Why the broker dead-lettered it (`rejected`, `delivery_limit`, ...), from `x-death`.
    pub reason: Option<String>,
}

/// A bus namespace that exists for one test.
pub struct TestBus {
    namespace: String,
    url: String,
}

impl TestBus {
    /// A fresh namespace `t.<uuid>.` on the machine's broker.
    pub fn new() -> Self {
        Self {
            namespace: format!("t.{}.", uuid::Uuid::new_v4().simple()),
            url: server_url(),
        }
    }

    /// The namespace (prefix of every name).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The broker URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Configuration for this namespace on the machine's broker, with timings suited to tests
    /// (fast polling, short back-offs).
    pub fn config(&self) -> BusConfig {
        self.config_for(&self.url)
    }

    /// Configuration for this namespace at another URL (e.g. through a fault proxy).
    pub fn config_for(&self, url: &str) -> BusConfig {
        BusConfig {
            url: url.to_owned().into(),
            namespace: self.namespace.clone(),
            delivery_limit: 5,
            prefetch: 16,
            outbox_poll_ms: 50,
            outbox_batch: 100,
            publish_timeout_ms: 2_000,
            retry_base_ms: 20,
            retry_max_ms: 200,
            reconnect_max_ms: 500,
            // Queues of a test that never cleaned up (killed, or a service's own consumers)
            // leave the shared broker by themselves.
            idle_queue_expiry_ms: Some(IDLE_QUEUE_EXPIRY.as_millis() as u64),
        }
    }

    /// The broker's `host:port`, to put a [`crate::TcpProxy`] in front of.
    pub fn broker_addr(&self) -> String {
        let (_, host_port, _) = split_url(&self.url);
        if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5672")
        }
    }

    /// The broker URL with its address replaced by `addr` (credentials and vhost kept).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        let (prefix, _, rest) = split_url(&self.url);
        format!("{prefix}{addr}{rest}")
    }

    /// The queue name of `consumer` in `service`.
    pub fn queue(&self, service: &str, consumer: &str) -> String {
        topology::queue_name(&self.namespace, service, consumer)
    }

    /// Waits until `consumer` of `service` consumes its queue, and returns the queue's name:
    /// before that, an event published for it would have nowhere to go.
    pub async fn consumed(&self, service: &str, consumer: &str) -> String {
        let queue = self.queue(service, consumer);
        self.wait_for_consumer(&queue).await;
        queue
    }

    /// Waits until `queue` exists and has a consumer.
    pub async fn wait_for_consumer(&self, queue: &str) {
        let connection = self.connect().await;
        crate::eventually(&format!("{queue} has a consumer"), async || {
            // A passive declare of a missing queue closes the channel: use a fresh one each time.
            let channel = connection.create_channel().await.unwrap();
            let declared = passive_declare(&channel, queue).await;
            matches!(&declared, Ok(q) if q.consumer_count() > 0)
        })
        .await;
    }

    /// Publishes `body` to the namespace's events exchange with `routing_key`, waiting for the
    /// broker's confirm.
    pub async fn publish(&self, routing_key: &str, body: &[u8]) {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let confirm = channel
            .basic_publish(
                topology::events_exchange(&self.namespace).into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack(), "broker refused the test message");
        close_channel(&channel).await;
        let _ = connection.close(200, "done".into()).await;
    }

    /// Publishes `event` as the service `source` would (in its envelope, under its routing
    /// key): the way a test plays a service that is not running.
    pub async fn publish_event<E: df_proto::Event>(&self, source: &str, event: &E) {
        let (_, envelope) = df_runtime::bus::outbox::seal(source, event).unwrap();
        self.publish(E::ROUTING_KEY, &envelope).await;
    }

    /// Ready messages in `queue`.
    pub async fn queue_len(&self, queue: &str) -> u32 {
        self.look_up(queue)
            .await
            .unwrap_or_else(|e| panic!("queue {queue}: {e}"))
            .message_count()
    }

    /// Whether the broker has a queue named `queue`.
    pub async fn queue_exists(&self, queue: &str) -> bool {
        match self.look_up(queue).await {
            Ok(_) => true,
            Err(e) if matches!(e.kind(), lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 404) => {
                false
            }
            Err(e) => panic!("queue {queue}: {e}"),
        }
    }

    /// Takes every message now in the dead-letter queue of `queue`.
    pub async fn take_dead_letters(&self, queue: &str) -> Vec<DeadLetter> {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.unwrap();
        let dlq = topology::dead_letter_queue(queue);
        let mut letters = Vec::new();
        while let Some(message) = basic_get(&channel, &dlq).await {
            letters.push(DeadLetter {
                reason: death_reason(message.delivery.properties.headers().as_ref()),
                body: message.delivery.data.clone(),
            });
            message
                .delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .unwrap();
        }
        close_channel(&channel).await;
        let _ = connection.close(200, "done".into()).await;
        letters
    }

    /// Takes every message now in the dead-letter queue of `queue`, decoded (panics on a body
    /// that is not an envelope; use [`TestBus::take_dead_letters`] for those).
    pub async fn dead_letters(&self, queue: &str) -> Vec<EventEnvelope> {
        self.take_dead_letters(queue)
            .await
            .into_iter()
            .map(|letter| decode_envelope(&letter.body).unwrap())
            .collect()
    }

    /// Waits until the dead-letter queue of `queue` has yielded `count` messages in all, and
    /// returns them.
    pub async fn wait_for_dead_letters(&self, queue: &str, count: usize) -> Vec<DeadLetter> {
        let mut letters = Vec::new();
        crate::eventually_ok(&format!("{count} dead letters on {queue}"), async || {
            letters.extend(self.take_dead_letters(queue).await);
            if letters.len() >= count {
                Ok(())
            } else {
                Err(format!("{} dead letters", letters.len()))
            }
        })
        .await;
        letters
    }

    /// A passive declare of `queue` on a connection of its own (a missing queue closes the
    /// channel, so nothing is reused).
    async fn look_up(&self, queue: &str) -> Result<lapin::Queue, lapin::Error> {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.unwrap();
        let declared = passive_declare(&channel, queue).await;
        close_channel(&channel).await;
        let _ = connection.close(200, "done".into()).await;
        declared
    }

    async fn connect(&self) -> Connection {
        Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("cannot reach RabbitMQ: {e}"))
    }
}

impl Default for TestBus {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let url = self.url.clone();
        let namespace = self.namespace.clone();
        // Every queue a consumer in this process declared in the namespace, whoever it is.
        let queues = topology::take_declared_queues(&namespace);
        crate::cleanup::run_bounded("test bus namespace", async move {
            let Ok(connection) = Connection::connect(&url, ConnectionProperties::default()).await
            else {
                return;
            };
            for queue in &queues {
                for name in [queue.clone(), topology::dead_letter_queue(queue)] {
                    delete_queue(&connection, &name).await;
                }
            }
            for exchange in [
                topology::events_exchange(&namespace),
                topology::dead_letter_exchange(&namespace),
            ] {
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel
                        .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                        .await;
                    close_channel(&channel).await;
                }
            }
            let _ = connection.close(200, "done".into()).await;
        });
    }
}

/// Asks the broker about `queue` without creating it.
async fn passive_declare(channel: &Channel, queue: &str) -> Result<lapin::Queue, lapin::Error> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

async fn delete_queue(connection: &Connection, name: &str) {
    // A failed delete closes its channel: one channel per queue.
    if let Ok(channel) = connection.create_channel().await {
        let _ = channel
            .queue_delete(name.into(), QueueDeleteOptions::default())
            .await;
        close_channel(&channel).await;
    }
}

/// Closes `channel` before it is dropped: a channel dropped open is closed in the background,
/// racing with the connection's own close.
async fn close_channel(channel: &Channel) {
    if channel.status().connected() {
        let _ = channel.close(200, "done".into()).await;
    }
}

async fn basic_get(channel: &Channel, queue: &str) -> Option<lapin::message::BasicGetMessage> {
    channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: false })
        .await
        .unwrap_or_else(|e| panic!("reading {queue}: {e}"))
}

/// `reason` of the newest `x-death` entry.
fn death_reason(headers: Option<&FieldTable>) -> Option<String> {
    let Some(AMQPValue::FieldArray(deaths)) = headers?.inner().get("x-death") else {
        return None;
    };
    let Some(AMQPValue::FieldTable(death)) = deaths.as_slice().first() else {
        return None;
    };
    match death.inner().get("reason")? {
        AMQPValue::LongString(reason) => Some(String::from_utf8_lossy(reason.as_bytes()).into()),
        AMQPValue::ShortString(reason) => Some(reason.as_str().to_owned()),
        _ => None,
    }
}

/// `amqp://user:pass@host:port/vhost?query` → (`amqp://user:pass@`, `host:port`, `/vhost?query`).
/// `url` split into what comes before the host, the `host:port`, and the rest (path, query).
pub(crate) fn split_url(url: &str) -> (&str, &str, &str) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let after_scheme = &url[scheme_end..];
    let authority_end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
    let authority = &after_scheme[..authority_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    (
        &url[..scheme_end + host_start],
        &authority[host_start..],
        &after_scheme[authority_end..],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_around_the_address() {
        assert_eq!(
            split_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("amqp://guest:guest@", "127.0.0.1:5672", "/%2f")
        );
        assert_eq!(split_url("amqp://10.0.0.1"), ("amqp://", "10.0.0.1", ""));
    }
}
