//! The parts every payments flow shares: the database, the entitlement cache, the provider, the
//! clock, the policies and the outbox relay.

use crate::errors::PaymentsError;
use std::sync::Arc;

use chrono::Duration;
use df_common::Error;
use df_runtime::{bus::relay::RelayHandle, db::Db};

use df_common::ids::UserId;

use df_common::clock::Clock;

use crate::{
    config::{PolicyConfig, WebhookConfig},
    entitlements::Entitlements,
    provider::PaymentProvider,
};

/// Name of this service in logs, metrics and on the bus.
pub const SERVICE: &str = "payments";

/// Shared state of the payments service.
#[derive(Clone)]
pub struct Service {
    /// `df_payments`.
    pub db: Db,
    /// Cached entitlement answers.
    pub entitlements: Entitlements,
    /// Stripe or the simulated provider.
    pub provider: Arc<dyn PaymentProvider>,
    /// Now.
    pub clock: Clock,
    /// Money policies.
    pub policy: PolicyConfig,
    /// Webhook verification.
    pub webhooks: WebhookConfig,
    /// Wakes the outbox relay after a commit.
    pub relay: RelayHandle,
    /// Keys of the tax data and the payer on forms.
    pub tax: Arc<TaxSettings>,
    /// Where the provider may send browsers back to.
    pub return_origins: crate::return_urls::ReturnOrigins,
}

/// What the tax flows need.
pub struct TaxSettings {
    /// Encrypts TINs and bank details.
    pub keyring: df_common::keyring::Keyring,
    /// The payer on forms and the filing threshold.
    pub config: crate::tax::TaxConfig,
}

impl Service {
    /// The hold before earnings become available.
    pub fn hold(&self) -> Duration {
        Duration::days(i64::from(self.policy.hold_days))
    }

    /// After a commit that changed these fans' access: drops their cached answers and wakes the
    /// relay. A cache failure is logged; the cached answers then expire within their TTL.
    pub async fn after_commit(&self, fans: &[UserId]) {
        after_commit(&self.relay, &self.entitlements, fans).await;
    }
}

/// What follows a commit that changed money or access: the relay is woken for the events in
/// the outbox, and the changed fans' cached entitlements are made stale.
pub async fn after_commit(relay: &RelayHandle, entitlements: &Entitlements, fans: &[UserId]) {
    relay.notify();
    if let Err(e) = entitlements.invalidate(fans).await {
        tracing::warn!(error = %e, "entitlement cache not invalidated");
    }
}

/// An event arrived before the object it refers to; the provider redelivers it later.
pub fn out_of_order(what: &str) -> Error {
    Error::from(PaymentsError::WebhookOutOfOrder)
        .with_cause(anyhow::anyhow!("webhook event before its {what}"))
}
