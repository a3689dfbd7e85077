//! Payments' announcements that what fans may see changed. Media keeps home-feed answers that
//! were judged with payments' entitlements ([`crate::home_cache`]) and serves them without
//! asking payments again, so it moves them aside whenever payments says the entitlements
//! behind them changed: one fan's (`payments.entitlement.changed` naming the fan, or a new PPV
//! purchase, `payments.payment.succeeded` of kind `ppv`), or those of every subscriber of a
//! creator whose tier was repriced (the event naming the creator: their feed version moves).
//! Payments stays the only judge of access; nothing here decides it.
//!
//! Both events come through one queue (one consumer with two bindings), so a media replica costs
//! the broker one queue for them, not two. The version is moved while the event is being
//! applied, so a Redis failure fails the event, which the bus delivers again later: an
//! announcement is never dropped.

use async_trait::async_trait;
use df_common::{
    Error,
    ids::{CreatorId, UserId},
};
use df_proto::{
    Event,
    events::v1::{EntitlementChanged, PaymentSucceeded},
};
use df_runtime::bus::{EventEnvelope, EventHandler, typed::decode};
use diesel_async::AsyncPgConnection;

use crate::{errors::MediaError, feed_cache::FeedCache, home_cache::HomeCache};

/// Moves cached answers aside on payments' announcements.
pub struct EntitlementAnnouncements {
    pub home_cache: HomeCache,
    pub feed_cache: FeedCache,
}

/// The consumer's name: its queue and inbox key.
pub const CONSUMER: &str = "entitlement_announcements";

/// The payment kind that opens an item; tips and subscription payments change nothing here (a
/// subscription's start or renewal is announced as an entitlement change).
const PPV: &str = "ppv";

#[async_trait]
impl EventHandler for EntitlementAnnouncements {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn bindings(&self) -> Vec<String> {
        vec![
            EntitlementChanged::ROUTING_KEY.to_owned(),
            PaymentSucceeded::ROUTING_KEY.to_owned(),
        ]
    }

    async fn handle(
        &self,
        _conn: &mut AsyncPgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        match envelope.event_type.as_str() {
            EntitlementChanged::ROUTING_KEY => {
                self.entitlement_changed(decode::<EntitlementChanged>(envelope)?)
                    .await
            }
            PaymentSucceeded::ROUTING_KEY => {
                let payment = decode::<PaymentSucceeded>(envelope)?;
                if payment.kind != PPV {
                    return Ok(());
                }
                let fan: UserId = payment.fan_id.parse().map_err(|_| malformed("fan_id"))?;
                self.home_cache.bump_fan(fan).await
            }
            _ => Err(malformed("an event type not bound here")),
        }
    }
}

impl EntitlementAnnouncements {
    /// One fan's entitlements changed, or those of every subscriber of a creator.
    async fn entitlement_changed(&self, event: EntitlementChanged) -> Result<(), Error> {
        match (event.fan_id.as_str(), event.creator_id.as_str()) {
            (fan, "") if !fan.is_empty() => {
                let fan: UserId = fan.parse().map_err(|_| malformed("fan_id"))?;
                self.home_cache.bump_fan(fan).await
            }
            ("", creator) if !creator.is_empty() => {
                let creator: CreatorId = creator.parse().map_err(|_| malformed("creator_id"))?;
                self.feed_cache.bump(creator).await
            }
            _ => Err(malformed("exactly one of fan_id and creator_id")),
        }
    }
}

fn malformed(what: &str) -> Error {
    Error::from(MediaError::MalformedEvent)
        .with_cause(anyhow::anyhow!("entitlement announcement: {what}"))
}
