//! The payment provider behind a small trait: Stripe in production, a simulated provider as the
//! embedded default. Payments never sees card data: fans pay on the provider's hosted pages, and
//! what happened comes back as signed webhook events through one pipeline for both adapters.

pub mod simulated;
pub mod stripe;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use df_common::Error;

/// What a checkout sells. `PartialEq` only: the fee percentage is a float.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckoutMode {
    /// A monthly subscription to a tier.
    Subscription {
        /// Shown on the payment page.
        tier_name: String,
        /// Price per month in minor units.
        unit_amount: i64,
        /// Free days before the first charge (0 for none).
        trial_days: u32,
        /// Promotional discount in percent for the first period, if one is running.
        promo_percent_off: Option<u32>,
        /// Platform fee in percent of every invoice (Stripe's `application_fee_percent`).
        application_fee_percent: f64,
    },
    /// A one-off payment (tip or PPV purchase).
    Payment {
        /// Shown on the payment page.
        description: String,
        /// Amount in minor units.
        amount: i64,
        /// Platform fee in minor units (Stripe's `application_fee_amount`).
        application_fee_amount: i64,
    },
}

/// A request for a hosted checkout page.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    /// Our checkout id; also the idempotency key, so a retried request creates one session.
    pub checkout_id: crate::ids::CheckoutId,
    /// What is sold.
    pub mode: CheckoutMode,
    /// ISO 4217, lower case.
    pub currency: String,
    /// The creator's connected account (destination of the charge).
    pub destination_account: String,
    /// Where the provider sends the fan after paying / abandoning.
    pub success_url: String,
    /// See `success_url`.
    pub cancel_url: String,
    /// Copied onto the session, the payment intent and the subscription, so webhook events can
    /// be attributed without another lookup.
    pub metadata: BTreeMap<String, String>,
}

/// A created hosted checkout page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutSession {
    /// The provider's session id (`cs_...`).
    pub provider_id: String,
    /// The page the fan is sent to.
    pub url: String,
    /// When the page stops accepting payment.
    pub expires_at: DateTime<Utc>,
}

/// A payout to a creator's bank account.
#[derive(Clone, Debug)]
pub struct PayoutRequest {
    /// Our payout id; the idempotency key.
    pub payout_id: crate::ids::PayoutId,
    /// The creator's connected account.
    pub account: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217, lower case.
    pub currency: String,
}

/// Evidence for a dispute, assembled from our records.
#[derive(Clone, Debug, Default)]
pub struct DisputeEvidence {
    /// What was bought, when, for how much.
    pub product_description: String,
    /// The purchase receipt as text.
    pub receipt: String,
    /// When and from where the fan used what they bought.
    pub access_activity_log: String,
    /// The fan's account id (pseudonymous).
    pub customer_id: String,
}

/// The provider's current view of a subscription, fetched when event order matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSubscription {
    /// `sub_...`.
    pub id: String,
    /// Stripe's status string (`trialing`, `active`, `past_due`, `canceled`, ...).
    pub status: String,
    /// End of the paid (or trial) period.
    pub current_period_end: DateTime<Utc>,
    /// Cancellation requested for the period end.
    pub cancel_at_period_end: bool,
}

/// What is known about a payment when its processor fee is looked up; webhook events carry
/// different references depending on their type and the API version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeeLookup {
    /// `txn_...`, when the event carried it.
    pub balance_transaction: Option<String>,
    /// `ch_...`.
    pub charge: Option<String>,
    /// `pi_...`.
    pub payment_intent: Option<String>,
    /// `in_...` (subscription payments).
    pub invoice: Option<String>,
    /// The amount charged, in minor units.
    pub amount: i64,
    /// ISO 4217, lower case.
    pub currency: String,
}

/// Everything payments asks of a payment provider.
#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Creates a connected (Express) account for a creator and returns its id.
    async fn create_connected_account(
        &self,
        creator_id: df_common::ids::CreatorId,
        country: &str,
    ) -> Result<String, Error>;

    /// A one-time onboarding link for the connected account.
    async fn onboarding_link(
        &self,
        account: &str,
        return_url: &str,
        refresh_url: &str,
    ) -> Result<String, Error>;

    /// Creates a hosted checkout page.
    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, Error>;

    /// Asks the provider to end a subscription when its paid period ends.
    async fn cancel_at_period_end(&self, subscription: &str) -> Result<(), Error>;

    /// The provider's current state of a subscription.
    async fn retrieve_subscription(&self, subscription: &str) -> Result<RemoteSubscription, Error>;

    /// The processor's fee for a payment, from its charge's balance transaction.
    async fn processor_fee(&self, lookup: &FeeLookup) -> Result<i64, Error>;

    /// The metadata of a payment intent, or `None` when the provider has no such payment
    /// intent: an event about a charge that names no metadata of ours is attributed (or found
    /// foreign) through it.
    async fn payment_intent_metadata(
        &self,
        payment_intent: &str,
    ) -> Result<Option<BTreeMap<String, String>>, Error>;

    /// Starts a payout from the connected account to the creator's bank; returns `po_...`.
    async fn create_payout(&self, request: &PayoutRequest) -> Result<String, Error>;

    /// Submits evidence for a dispute.
    async fn submit_dispute_evidence(
        &self,
        dispute: &str,
        evidence: &DisputeEvidence,
    ) -> Result<(), Error>;
}
