//! Payments' announcements that what fans may see changed. Media keeps home-feed answers that
//! were judged with payments' entitlements ([`crate::home_cache`]) and serves them without
//! asking payments again, so it moves them aside whenever payments says the entitlements
//! behind them changed: one fan's (`payments.entitlement.changed` naming the fan, or a new PPV
//! purchase, `payments.payment.succeeded` of kind `ppv`), or those of every subscriber of a
//! creator whose tier was repriced (the event naming the creator: their feed version moves).
//! Payments stays the only judge of access; nothing here decides it.
//!
//! The version is moved while the event is being applied, so a Redis failure fails the event,
//! which the bus delivers again later: an announcement is never dropped.

use async_trait::async_trait;
use df_common::{
    Error,
    ids::{CreatorId, UserId},
};
use df_proto::events::v1::{EntitlementChanged, PaymentSucceeded};
use df_runtime::bus::{EventEnvelope, typed::Consumer};
use diesel_async::AsyncPgConnection;

use crate::{errors::MediaError, feed_cache::FeedCache, home_cache::HomeCache};

/// Moves cached answers aside on `payments.entitlement.changed`.
pub struct EntitlementChanges {
    pub home_cache: HomeCache,
    pub feed_cache: FeedCache,
}

#[async_trait]
impl Consumer for EntitlementChanges {
    type Event = EntitlementChanged;
    const NAME: &'static str = "entitlement_changes";

    async fn apply(
        &self,
        _conn: &mut AsyncPgConnection,
        event: EntitlementChanged,
        _envelope: &EventEnvelope,
    ) -> Result<(), Error> {
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

/// Moves the buyer's cached answers aside on a PPV purchase (`payments.payment.succeeded`);
/// tips and subscription payments change nothing here (a subscription's start or renewal is
/// announced as an entitlement change).
pub struct PpvPurchases {
    pub home_cache: HomeCache,
}

/// The payment kind that opens an item.
const PPV: &str = "ppv";

#[async_trait]
impl Consumer for PpvPurchases {
    type Event = PaymentSucceeded;
    const NAME: &'static str = "ppv_purchases";

    async fn apply(
        &self,
        _conn: &mut AsyncPgConnection,
        event: PaymentSucceeded,
        _envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        if event.kind != PPV {
            return Ok(());
        }
        let fan: UserId = event.fan_id.parse().map_err(|_| malformed("fan_id"))?;
        self.home_cache.bump_fan(fan).await
    }
}

fn malformed(what: &str) -> Error {
    Error::from(MediaError::MalformedEvent)
        .with_cause(anyhow::anyhow!("entitlement announcement: {what}"))
}
