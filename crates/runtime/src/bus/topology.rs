//! Exchange and queue names and their declarations. Every name starts with the configured
//! namespace, so environments and tests sharing a broker never see each other's messages.
//!
//! - `<ns>df.events`: durable topic exchange every event is published to (routing key = type);
//! - `<ns>df.dlx`: durable direct exchange receiving dead letters;
//! - `<ns><service>.<consumer>`: durable quorum queue of one consumer, with a delivery limit, whose
//!   dead letters go to the DLX with the queue's own name as routing key;
//! - `<ns><service>.<consumer>.dlq`: durable quorum queue holding those dead letters.

use std::{collections::BTreeSet, sync::Mutex};

use lapin::{
    Channel, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString, ShortString},
};

use super::unavailable;
use df_common::error::Error;

/// Every consumer queue this process has declared. A process that shares its broker with
/// others under a namespace of its own (a test among parallel tests) deletes what it declared
/// through [`take_declared_queues`] instead of listing its consumers by hand; a service
/// declares a handful of queues, so the set stays small.
static DECLARED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The consumer queues declared in this process under `namespace`, forgotten as they are
/// returned (their dead-letter queues are named by [`dead_letter_queue`]).
pub fn take_declared_queues(namespace: &str) -> Vec<String> {
    let mut declared = DECLARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let taken: Vec<String> = declared
        .iter()
        .filter(|queue| queue.starts_with(namespace))
        .cloned()
        .collect();
    for queue in &taken {
        declared.remove(queue);
    }
    taken
}

/// The topic exchange events are published to.
pub fn events_exchange(namespace: &str) -> String {
    format!("{namespace}df.events")
}

/// The exchange dead letters are routed through.
pub fn dead_letter_exchange(namespace: &str) -> String {
    format!("{namespace}df.dlx")
}

/// The queue of `consumer` in `service`.
pub fn queue_name(namespace: &str, service: &str, consumer: &str) -> String {
    format!("{namespace}{service}.{consumer}")
}

/// The dead-letter queue of `queue`.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// One consumer's queue and what it listens to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueSpec {
    /// Full queue name (namespace included).
    pub queue: String,
    /// Routing-key patterns (`identity.user.*`, `payments.#`).
    pub bindings: Vec<String>,
    /// Deliveries before the broker dead-letters a message.
    pub delivery_limit: u32,
    /// How long the broker keeps the queues without a consumer (`x-expires`); `None` keeps them.
    pub idle_expiry_ms: Option<u64>,
}

impl QueueSpec {
    /// Checks the names and patterns so that a mistake is reported once, clearly, at start-up.
    pub(crate) fn new(
        namespace: &str,
        service: &str,
        consumer: &str,
        bindings: Vec<String>,
        delivery_limit: u32,
    ) -> Result<Self, Error> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        if !name_ok(service) || !name_ok(consumer) {
            return Err(Error::invalid_input(
                "common.bus_invalid_consumer",
                "Service and consumer names use letters, digits, '.', '_' and '-'.",
            ));
        }
        let pattern_ok = |p: &String| {
            !p.is_empty()
                && p.len() <= 255
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-*#".contains(c))
        };
        if bindings.is_empty() || !bindings.iter().all(pattern_ok) {
            return Err(Error::invalid_input(
                "common.bus_invalid_binding",
                "A consumer needs at least one binding pattern such as identity.user.*.",
            ));
        }
        let queue = queue_name(namespace, service, consumer);
        // The dead-letter queue's name is the longest one we declare.
        short(&dead_letter_queue(&queue))?;
        Ok(Self {
            queue,
            bindings,
            delivery_limit,
            idle_expiry_ms: None,
        })
    }

    /// The same queue, deleted by the broker after `expiry_ms` without a consumer.
    pub(crate) fn with_idle_expiry(mut self, expiry_ms: Option<u64>) -> Self {
        self.idle_expiry_ms = expiry_ms;
        self
    }
}

/// An AMQP short string, refusing (instead of panicking on) text longer than 255 bytes.
pub(crate) fn short(text: &str) -> Result<ShortString, Error> {
    ShortString::try_new(text).map_err(|_| {
        Error::invalid_input(
            "common.bus_name_too_long",
            "A bus name or routing key is longer than 255 bytes.",
        )
    })
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Declares the events exchange and the dead-letter exchange (idempotent).
pub(crate) async fn declare_exchanges(channel: &Channel, namespace: &str) -> Result<(), Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            short(&events_exchange(namespace))?,
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("declaring the events exchange", e))?;
    channel
        .exchange_declare(
            short(&dead_letter_exchange(namespace))?,
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("declaring the dead-letter exchange", e))
}

/// Declares a consumer's quorum queue, its dead-letter queue and their bindings (idempotent;
/// the exchanges must exist).
pub(crate) async fn declare_queue(
    channel: &Channel,
    namespace: &str,
    spec: &QueueSpec,
) -> Result<(), Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    // Recorded before the broker is asked: a declare whose answer is lost may still exist.
    DECLARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(spec.queue.clone());
    let dlq = dead_letter_queue(&spec.queue);
    let dlx = dead_letter_exchange(namespace);

    let mut dlq_args = FieldTable::default();
    dlq_args.insert("x-queue-type".into(), text("quorum"));
    if let Some(expiry) = spec.idle_expiry_ms {
        // A dead-letter queue has no consumer of its own: it goes with its queue's expiry.
        dlq_args.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(i64::try_from(expiry).unwrap_or(i64::MAX)),
        );
    }
    channel
        .queue_declare(short(&dlq)?, durable, dlq_args)
        .await
        .map_err(|e| unavailable("declaring a dead-letter queue", e))?;
    channel
        .queue_bind(
            short(&dlq)?,
            short(&dlx)?,
            short(&spec.queue)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| unavailable("binding a dead-letter queue", e))?;

    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), text("quorum"));
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(spec.delivery_limit)),
    );
    args.insert("x-dead-letter-exchange".into(), text(&dlx));
    args.insert("x-dead-letter-routing-key".into(), text(&spec.queue));
    if let Some(expiry) = spec.idle_expiry_ms {
        args.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(i64::try_from(expiry).unwrap_or(i64::MAX)),
        );
    }
    channel
        .queue_declare(short(&spec.queue)?, durable, args)
        .await
        .map_err(|e| unavailable("declaring a consumer queue", e))?;
    let exchange = short(&events_exchange(namespace))?;
    for pattern in &spec.bindings {
        channel
            .queue_bind(
                short(&spec.queue)?,
                exchange.clone(),
                short(pattern)?,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable("binding a consumer queue", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_namespace() {
        assert_eq!(events_exchange("t.1."), "t.1.df.events");
        assert_eq!(dead_letter_exchange(""), "df.dlx");
        let queue = queue_name("t.1.", "media", "moderation-decisions");
        assert_eq!(queue, "t.1.media.moderation-decisions");
        assert_eq!(
            dead_letter_queue(&queue),
            "t.1.media.moderation-decisions.dlq"
        );
    }

    #[test]
    fn bad_consumers_are_refused_with_a_clear_code() {
        let ok = QueueSpec::new("", "media", "uploads", vec!["media.#".into()], 5).unwrap();
        assert_eq!(ok.queue, "media.uploads");
        let code = |r: Result<QueueSpec, Error>| r.unwrap_err().code().to_owned();
        assert_eq!(
            code(QueueSpec::new("", "media", "up loads", vec!["a".into()], 5)),
            "common.bus_invalid_consumer"
        );
        assert_eq!(
            code(QueueSpec::new("", "media", "uploads", vec![], 5)),
            "common.bus_invalid_binding"
        );
        assert_eq!(
            code(QueueSpec::new(
                "",
                "media",
                "uploads",
                vec!["A B".into()],
                5
            )),
            "common.bus_invalid_binding"
        );
        assert_eq!(
            code(QueueSpec::new(
                &"n".repeat(250),
                "media",
                "uploads",
                vec!["a".into()],
                5
            )),
            "common.bus_name_too_long"
        );
    }
}
