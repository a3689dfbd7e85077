//! The production payment provider: Stripe, through the `async-stripe` bindings.
//!
//! Creators are Express connected accounts whose payouts the platform triggers (their payout
//! schedule is manual); fans pay on Stripe Checkout with destination charges, so the platform fee
//! stays with us and the rest is transferred to the creator's account.
//!
//! Reliability rules, the same for every call:
//!
//! - Every POST carries an `Idempotency-Key` derived from our own ids where one exists (checkout,
//!   payout, creator, dispute), so a request retried here, or by a caller after a crash, has
//!   its effect once. The key stays the same across the retries of one logical request.
//! - Network failures, timeouts, 429 and 5xx answers are retried up to `max_retries` times with
//!   exponential back-off and jitter; other 4xx answers are final.
//! - A refusal surfaces as `payments.provider_rejected` with a generic message; what Stripe said
//!   stays in the private cause. Failures that outlast the retries are `unavailable`.
//! - The secret key is sent only in the `Authorization` header and scrubbed from any text that
//!   reaches an error or a log line.

use crate::errors::PaymentsError;
use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    future::Future,
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use df_common::{
    Error, ErrorKind, Secret,
    config::{Validate, check_range},
};
use rand::Rng;
use serde::Deserialize;
use stripe::{
    AccountId, Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest,
};
use stripe_billing::{
    invoice_payment::{ListInvoicePayment, ListInvoicePaymentStatus},
    subscription::{RetrieveSubscription, UpdateSubscription},
};
use stripe_checkout::{
    CheckoutSessionMode,
    checkout_session::{
        CreateCheckoutSession, CreateCheckoutSessionDiscounts, CreateCheckoutSessionLineItems,
        CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionLineItemsPriceDataRecurring,
        CreateCheckoutSessionLineItemsPriceDataRecurringInterval,
        CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionPaymentIntentDataTransferData,
        CreateCheckoutSessionSubscriptionData, CreateCheckoutSessionSubscriptionDataTransferData,
        ProductData,
    },
};
use stripe_connect::{
    account::{
        CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesCardPayments,
        CreateAccountCapabilitiesTransfers, CreateAccountSettings, CreateAccountSettingsPayouts,
        CreateAccountSettingsPayoutsSchedule, CreateAccountSettingsPayoutsScheduleInterval,
        CreateAccountType,
    },
    account_link::{CreateAccountLink, CreateAccountLinkType},
};
use stripe_core::{
    balance_transaction::RetrieveBalanceTransaction,
    charge::RetrieveCharge,
    dispute::{UpdateDispute, UpdateDisputeEvidence},
    payment_intent::RetrievePaymentIntent,
    payout::CreatePayout,
};
use stripe_product::{CouponDuration, coupon::CreateCoupon};
use stripe_types::{Currency, Expandable};

use super::{
    CheckoutMode, CheckoutRequest, CheckoutSession, DisputeEvidence, FeeLookup, PaymentProvider,
    PayoutRequest, RemoteSubscription,
};

/// Longest wait between two attempts, whatever the base delay and the attempt number.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Stripe's limit on one free-text dispute evidence field.
const MAX_EVIDENCE_CHARS: usize = 20_000;

/// How payments reaches Stripe. The webhook signing secret belongs to the webhook endpoint, not
/// here. Checked by [`Validate`] only when Stripe is the configured provider.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeConfig {
    /// Secret (`sk_…`) or restricted (`rk_…`) API key; load it from the secrets directory.
    pub secret_key: Secret<String>,
    /// Origin of the API, without a path; tests point it at a local server.
    pub api_base: String,
    /// Retries after the first attempt of a request that failed transiently.
    pub max_retries: u32,
    /// Back-off before the first retry; doubles with each further one, up to [`MAX_BACKOFF`].
    pub retry_base_ms: u64,
    /// Deadline of one attempt, connection and response body included.
    pub request_timeout_ms: u64,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            secret_key: Secret::default(),
            api_base: "https://api.stripe.com".into(),
            max_retries: 3,
            retry_base_ms: 500,
            request_timeout_ms: 30_000,
        }
    }
}

impl Validate for StripeConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        let key = self.secret_key.expose();
        if key.is_empty() {
            problems.push("stripe.secret_key: required (from a secret file)".into());
        } else if !(key.starts_with("sk_") || key.starts_with("rk_"))
            || !key.chars().all(|c| c.is_ascii_graphic())
        {
            problems.push(
                "stripe.secret_key: must be a secret (sk_…) or restricted (rk_…) key (value hidden)"
                    .into(),
            );
        }
        if !is_origin(&self.api_base) {
            problems.push(format!(
                "stripe.api_base: `{}` is not an http(s) origin such as https://api.stripe.com",
                self.api_base
            ));
        }
        check_range(problems, "stripe.max_retries", self.max_retries, 0, 10);
        check_range(
            problems,
            "stripe.retry_base_ms",
            self.retry_base_ms,
            1,
            10_000,
        );
        check_range(
            problems,
            "stripe.request_timeout_ms",
            self.request_timeout_ms,
            100,
            120_000,
        );
    }
}

/// True for `http(s)://host[:port]` with at most a trailing `/`: the bindings append `v1/...`.
fn is_origin(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.strip_suffix('/').unwrap_or(rest);
    !host.is_empty() && !host.contains(['/', '?', '#', '@', ' '])
}

/// The Stripe adapter.
pub struct StripeProvider {
    client: Client,
    /// Kept only to scrub it from text Stripe or the HTTP stack echoes back.
    secret_key: Secret<String>,
    max_retries: u32,
    retry_base: Duration,
}

impl fmt::Debug for StripeProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeProvider")
            .field("max_retries", &self.max_retries)
            .field("retry_base", &self.retry_base)
            .finish_non_exhaustive()
    }
}

impl StripeProvider {
    /// A provider for the configured account. Fails only on settings [`Validate`] rejects.
    pub fn new(config: &StripeConfig) -> Result<Self, Error> {
        // The bindings build their TLS client from rustls' process-wide provider.
        df_common::tls::install_crypto_provider();
        let mut api_base = config.api_base.clone();
        if !api_base.ends_with('/') {
            api_base.push('/');
        }
        let client = ClientBuilder::new(config.secret_key.expose().clone())
            .url(api_base)
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .app_info(
                "directfanz-payments",
                Some(env!("CARGO_PKG_VERSION").into()),
                None,
            )
            .build()
            .map_err(|e| {
                Error::internal(anyhow::anyhow!(
                    "invalid Stripe client settings: {}",
                    scrub(&config.secret_key, &e.to_string())
                ))
            })?;
        Ok(Self {
            client,
            secret_key: config.secret_key.clone(),
            max_retries: config.max_retries,
            retry_base: Duration::from_millis(config.retry_base_ms),
        })
    }

    /// The charge or payment intent that paid `invoice`. Since API version 2025-03-31 an
    /// invoice no longer names them; its payments are listed under `/v1/invoice_payments`.
    async fn invoice_payment(
        &self,
        invoice: &str,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let request = ListInvoicePayment::new()
            .invoice(invoice)
            .status(ListInvoicePaymentStatus::Paid)
            .limit(1);
        let payments = self.send("list_invoice_payments", None, &request).await?;
        let Some(paid) = payments.data.into_iter().next() else {
            return Err(fee_unknown());
        };
        Ok((
            paid.payment.charge.map(|charge| charge.id().to_string()),
            paid.payment
                .payment_intent
                .map(|intent| intent.id().to_string()),
        ))
    }

    /// Sends `request` as one logical request (see [`StripeProvider::call`]).
    async fn send<R>(
        &self,
        operation: &'static str,
        idempotency_key: Option<String>,
        request: &R,
    ) -> Result<R::Output, Error>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        self.call(operation, idempotency_key, |strategy| {
            request
                .customize()
                .request_strategy(strategy)
                .send(&self.client)
        })
        .await
    }

    /// Runs one logical request: `attempt` sends it once with the given strategy, which carries
    /// the idempotency key (`None` only for reads). Transient failures are retried with the
    /// same key.
    async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        idempotency_key: Option<String>,
        attempt: F,
    ) -> Result<T, Error>
    where
        F: Fn(RequestStrategy) -> Fut,
        Fut: Future<Output = Result<T, StripeError>>,
    {
        // One attempt per send: the bindings' own retry strategies use a random key and a fixed,
        // jitter-free back-off, and they would retry 409 conflicts too.
        let strategy = match idempotency_key {
            Some(key) => RequestStrategy::Idempotent(IdempotencyKey::new(key).map_err(|e| {
                Error::internal(anyhow::anyhow!(
                    "Stripe {operation}: bad idempotency key: {e}"
                ))
            })?),
            None => RequestStrategy::Once,
        };
        let mut retries = 0;
        loop {
            let error = match attempt(strategy.clone()).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if retries >= self.max_retries || !is_transient(&error) {
                return Err(self.to_error(operation, error));
            }
            let delay = backoff(self.retry_base, retries);
            retries += 1;
            tracing::warn!(
                operation,
                retry = retries,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %self.describe(&error),
                "Stripe request failed; retrying",
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// A one-line account of a failure for logs and causes, without the secret key.
    fn describe(&self, error: &StripeError) -> String {
        let text = match error {
            StripeError::Stripe(api, status) => format!(
                "HTTP {status}, {} {}{}: {}",
                api.type_.as_str(),
                api.code.as_ref().map_or("", |code| code.as_str()),
                api.param
                    .as_deref()
                    .map(|param| format!(" (param {param})"))
                    .unwrap_or_default(),
                api.message.as_deref().unwrap_or("no message"),
            ),
            other => other.to_string(),
        };
        scrub(&self.secret_key, &text)
    }

    fn to_error(&self, operation: &'static str, error: StripeError) -> Error {
        let cause = anyhow::anyhow!("Stripe {operation}: {}", self.describe(&error));
        match error {
            StripeError::Stripe(_, status) => match status {
                429 | 500.. => Error::unavailable(cause),
                // Our key or its permissions: nothing a caller can fix, an operator must.
                401 | 403 => Error::internal(cause),
                404 => Error::from(PaymentsError::ProviderNotFound).with_cause(cause),
                _ => Error::from(PaymentsError::ProviderRejected).with_cause(cause),
            },
            StripeError::ClientError(_) | StripeError::Timeout => Error::unavailable(cause),
            // An answer we cannot read is a mismatch between Stripe and the bindings, not a
            // passing failure; retrying would replay the same answer.
            StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => Error::internal(cause),
        }
    }
}

/// Network failures, timeouts, rate limiting and server errors may pass; other answers will not.
fn is_transient(error: &StripeError) -> bool {
    match error {
        StripeError::Stripe(_, status) => *status == 429 || *status >= 500,
        StripeError::ClientError(_) | StripeError::Timeout => true,
        StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => false,
    }
}

/// The wait before retry number `retry` (0 for the first): `base · 2^retry`, capped at
/// [`MAX_BACKOFF`], of which the upper half is random ("equal jitter"), so clients that failed
/// together spread out while none retries at once.
pub fn backoff(base: Duration, retry: u32) -> Duration {
    let ceiling = base.saturating_mul(1_u32 << retry.min(20)).min(MAX_BACKOFF);
    let half = ceiling / 2;
    half + rand::thread_rng().gen_range(Duration::ZERO..=ceiling - half)
}

fn scrub(secret: &Secret<String>, text: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    text.replace(secret.expose().as_str(), df_common::secret::REDACTED)
}

fn to_hash_map(metadata: &BTreeMap<String, String>) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn currency(code: &str) -> Currency {
    // Unknown codes parse to `Currency::Unknown` and are sent as given; Stripe judges them.
    let Ok(currency) = code.to_ascii_lowercase().parse::<Currency>();
    currency
}

fn timestamp(operation: &'static str, seconds: i64) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp(seconds, 0).ok_or_else(|| {
        Error::internal(anyhow::anyhow!(
            "Stripe {operation}: timestamp {seconds} out of range"
        ))
    })
}

/// `text` cut to Stripe's per-field limit, at a character boundary; `None` when empty, as an
/// empty string would clear evidence staged earlier.
fn evidence_text(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(MAX_EVIDENCE_CHARS).collect())
}

impl StripeProvider {
    /// A coupon for `percent_off` of the first paid invoice, for one checkout only. Stripe cannot
    /// take a percentage inline on a Checkout session, so the coupon is created first; its
    /// idempotency key comes from the checkout id, so a retried checkout reuses it.
    async fn first_period_coupon(
        &self,
        checkout_id: crate::ids::CheckoutId,
        percent_off: u32,
    ) -> Result<String, Error> {
        let request = CreateCoupon::new()
            .percent_off(f64::from(percent_off))
            .duration(CouponDuration::Once)
            .max_redemptions(1)
            .name(format!("{percent_off}% off the first month"))
            .metadata(HashMap::from([(
                "checkout_id".to_owned(),
                checkout_id.to_string(),
            )]));
        let coupon = self
            .send(
                "create_coupon",
                Some(format!("df-coupon-{checkout_id}")),
                &request,
            )
            .await?;
        Ok(coupon.id.to_string())
    }
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    async fn create_connected_account(
        &self,
        creator_id: df_common::ids::CreatorId,
        country: &str,
    ) -> Result<String, Error> {
        let mut capabilities = CreateAccountCapabilities::new();
        capabilities.card_payments = Some(CreateAccountCapabilitiesCardPayments {
            requested: Some(true),
        });
        capabilities.transfers = Some(CreateAccountCapabilitiesTransfers {
            requested: Some(true),
        });
        // The platform decides when money leaves (after holds and disputes), so Stripe must not
        // pay out on its own schedule.
        let mut schedule = CreateAccountSettingsPayoutsSchedule::new();
        schedule.interval = Some(CreateAccountSettingsPayoutsScheduleInterval::Manual);
        let mut payouts = CreateAccountSettingsPayouts::new();
        payouts.schedule = Some(schedule);
        let mut settings = CreateAccountSettings::new();
        settings.payouts = Some(payouts);
        let request = CreateAccount::new()
            .type_(CreateAccountType::Express)
            .country(country.to_ascii_uppercase())
            .capabilities(capabilities)
            .settings(settings)
            .metadata(HashMap::from([(
                "creator_id".to_owned(),
                creator_id.to_string(),
            )]));
        // Keyed by creator: a retry after a lost answer finds the account created the first time.
        let account = self
            .send(
                "create_account",
                Some(format!("df-account-{creator_id}")),
                &request,
            )
            .await?;
        tracing::info!(account = %account.id, "Stripe connected account created");
        Ok(account.id.to_string())
    }

    async fn onboarding_link(
        &self,
        account: &str,
        return_url: &str,
        refresh_url: &str,
    ) -> Result<String, Error> {
        let request = CreateAccountLink::new(account, CreateAccountLinkType::AccountOnboarding)
            .return_url(return_url)
            .refresh_url(refresh_url);
        // Links are single use and short-lived: every call asks for a fresh one, and only the
        // retries of this call share a key.
        let link = self
            .send(
                "create_account_link",
                Some(format!("df-account-link-{}", uuid::Uuid::new_v4())),
                &request,
            )
            .await?;
        Ok(link.url)
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, Error> {
        let metadata = to_hash_map(&request.metadata);
        let (name, amount, recurring) = match &request.mode {
            CheckoutMode::Subscription {
                tier_name,
                unit_amount,
                ..
            } => (tier_name, *unit_amount, true),
            CheckoutMode::Payment {
                description,
                amount,
                ..
            } => (description, *amount, false),
        };
        let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency(&request.currency));
        price.product_data = Some(ProductData::new(name.clone()));
        price.unit_amount = Some(amount);
        if recurring {
            price.recurring = Some(CreateCheckoutSessionLineItemsPriceDataRecurring::new(
                CreateCheckoutSessionLineItemsPriceDataRecurringInterval::Month,
            ));
        }
        let mut line_item = CreateCheckoutSessionLineItems::new();
        line_item.price_data = Some(price);
        line_item.quantity = Some(1);

        let mut session = CreateCheckoutSession::new()
            .line_items(vec![line_item])
            .success_url(request.success_url.clone())
            .cancel_url(request.cancel_url.clone())
            .client_reference_id(request.checkout_id.to_string())
            .metadata(metadata.clone());
        match &request.mode {
            CheckoutMode::Subscription {
                trial_days,
                promo_percent_off,
                application_fee_percent,
                ..
            } => {
                let mut data = CreateCheckoutSessionSubscriptionData::new();
                data.application_fee_percent = Some(*application_fee_percent);
                data.transfer_data = Some(CreateCheckoutSessionSubscriptionDataTransferData::new(
                    request.destination_account.clone(),
                ));
                data.metadata = Some(metadata);
                if *trial_days > 0 {
                    data.trial_period_days = Some(*trial_days);
                }
                session = session
                    .mode(CheckoutSessionMode::Subscription)
                    .subscription_data(data);
                match promo_percent_off {
                    None | Some(0) => {}
                    Some(percent @ 1..=100) => {
                        let coupon = self
                            .first_period_coupon(request.checkout_id, *percent)
                            .await?;
                        let mut discount = CreateCheckoutSessionDiscounts::new();
                        discount.coupon = Some(coupon);
                        session = session.discounts(vec![discount]);
                    }
                    Some(_) => {
                        return Err(Error::from(PaymentsError::PromoInvalid));
                    }
                }
            }
            CheckoutMode::Payment {
                description,
                application_fee_amount,
                ..
            } => {
                let mut data = CreateCheckoutSessionPaymentIntentData::new();
                data.application_fee_amount = Some(*application_fee_amount);
                data.transfer_data = Some(CreateCheckoutSessionPaymentIntentDataTransferData::new(
                    request.destination_account.clone(),
                ));
                data.metadata = Some(metadata);
                data.description = Some(description.clone());
                session = session
                    .mode(CheckoutSessionMode::Payment)
                    .payment_intent_data(data);
            }
        }

        let created = self
            .send(
                "create_checkout_session",
                Some(format!("df-checkout-{}", request.checkout_id)),
                &session,
            )
            .await?;
        let url = created.url.ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "Stripe create_checkout_session: session {} has no url",
                created.id
            ))
        })?;
        Ok(CheckoutSession {
            provider_id: created.id.to_string(),
            url,
            expires_at: timestamp("create_checkout_session", created.expires_at)?,
        })
    }

    async fn cancel_at_period_end(&self, subscription: &str) -> Result<(), Error> {
        let request = UpdateSubscription::new(subscription).cancel_at_period_end(true);
        // Setting the flag is idempotent by nature. A key derived from the subscription id would
        // make Stripe replay an earlier cancellation for 24 hours, even after a resume in between.
        self.send(
            "cancel_subscription_at_period_end",
            Some(format!("df-subscription-cancel-{}", uuid::Uuid::new_v4())),
            &request,
        )
        .await?;
        Ok(())
    }

    async fn retrieve_subscription(&self, subscription: &str) -> Result<RemoteSubscription, Error> {
        let request = RetrieveSubscription::new(subscription);
        let remote = self.send("retrieve_subscription", None, &request).await?;
        // Since API version 2025-03-31 the billing period lives on the subscription items. Ours
        // have exactly one; with several, the subscription is paid up to the latest end.
        let period_end = remote
            .items
            .data
            .iter()
            .map(|item| item.current_period_end)
            .max()
            .ok_or_else(|| {
                Error::internal(anyhow::anyhow!(
                    "Stripe retrieve_subscription: {} has no items",
                    remote.id
                ))
            })?;
        Ok(RemoteSubscription {
            id: remote.id.to_string(),
            status: remote.status.as_str().to_owned(),
            current_period_end: timestamp("retrieve_subscription", period_end)?,
            cancel_at_period_end: remote.cancel_at_period_end,
        })
    }

    /// Stripe reports the fee on the charge's balance transaction; events name it directly, or
    /// only the charge, or only the payment intent, or (invoices since API version 2025-03-31)
    /// only the invoice, depending on their type.
    async fn processor_fee(&self, lookup: &FeeLookup) -> Result<i64, Error> {
        let (charge, payment_intent) = match (&lookup.charge, &lookup.payment_intent) {
            (None, None) if lookup.balance_transaction.is_none() => match &lookup.invoice {
                Some(invoice) => self.invoice_payment(invoice).await?,
                None => (None, None),
            },
            (charge, intent) => (charge.clone(), intent.clone()),
        };
        let balance_transaction = match (&lookup.balance_transaction, &charge, &payment_intent) {
            (Some(id), _, _) => id.clone(),
            (None, Some(charge), _) => {
                let request = RetrieveCharge::new(charge.as_str())
                    .expand(vec!["balance_transaction".to_owned()]);
                let charge = self.send("retrieve_charge", None, &request).await?;
                match charge.balance_transaction {
                    Some(Expandable::Object(txn)) => return Ok(txn.fee),
                    Some(Expandable::Id(id)) => id.to_string(),
                    None => return Err(fee_unknown()),
                }
            }
            (None, None, Some(intent)) => {
                let request = RetrievePaymentIntent::new(intent.as_str())
                    .expand(vec!["latest_charge.balance_transaction".to_owned()]);
                let intent = self.send("retrieve_payment_intent", None, &request).await?;
                match intent.latest_charge {
                    Some(Expandable::Object(charge)) => match charge.balance_transaction {
                        Some(Expandable::Object(txn)) => return Ok(txn.fee),
                        Some(Expandable::Id(id)) => id.to_string(),
                        None => return Err(fee_unknown()),
                    },
                    _ => return Err(fee_unknown()),
                }
            }
            (None, None, None) => return Err(fee_unknown()),
        };
        let request = RetrieveBalanceTransaction::new(balance_transaction.as_str());
        let transaction = self
            .send("retrieve_balance_transaction", None, &request)
            .await?;
        Ok(transaction.fee)
    }

    async fn payment_intent_metadata(
        &self,
        payment_intent: &str,
    ) -> Result<Option<BTreeMap<String, String>>, Error> {
        let request = RetrievePaymentIntent::new(payment_intent);
        let found = self.send("retrieve_payment_intent", None, &request).await;
        match found {
            Ok(intent) => Ok(Some(intent.metadata.into_iter().collect())),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn create_payout(&self, request: &PayoutRequest) -> Result<String, Error> {
        let payout = CreatePayout::new(request.amount, currency(&request.currency)).metadata(
            HashMap::from([("df_payout_id".to_owned(), request.payout_id.to_string())]),
        );
        let account = AccountId::from(request.account.as_str());
        let created = self
            .call(
                "create_payout",
                Some(format!("df-payout-{}", request.payout_id)),
                |strategy| {
                    // The payout is made by the connected account (Stripe-Account header), from
                    // its balance to the creator's bank.
                    payout
                        .customize()
                        .account_id(account.clone())
                        .request_strategy(strategy)
                        .send(&self.client)
                },
            )
            .await?;
        tracing::info!(payout = %created.id, account = %request.account, "Stripe payout created");
        Ok(created.id.to_string())
    }

    async fn submit_dispute_evidence(
        &self,
        dispute: &str,
        evidence: &DisputeEvidence,
    ) -> Result<(), Error> {
        let mut fields = UpdateDisputeEvidence::new();
        fields.product_description = evidence_text(&evidence.product_description);
        fields.access_activity_log = evidence_text(&evidence.access_activity_log);
        // `receipt` takes an uploaded file; our receipt is text, so it goes with the customer's
        // (pseudonymous) account id into the free-text field. No email: we do not share it.
        fields.uncategorized_text = evidence_text(&format!(
            "Customer account: {}\n\nReceipt:\n{}",
            evidence.customer_id, evidence.receipt
        ));
        let request = UpdateDispute::new(dispute).evidence(fields).submit(true);
        // Evidence can be submitted once per dispute, so the dispute id is the natural key.
        self.send(
            "submit_dispute_evidence",
            Some(format!("df-dispute-evidence-{dispute}")),
            &request,
        )
        .await?;
        Ok(())
    }
}

/// The event carried no reference that leads to the fee; redelivery will not help either, so
/// this is an error the operator sees.
fn fee_unknown() -> Error {
    Error::from(PaymentsError::FeeUnknown).with_cause(anyhow::anyhow!(
        "no balance transaction reachable from the event"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    fn valid() -> StripeConfig {
        StripeConfig {
            secret_key: Secret::from("sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
            ..StripeConfig::default()
        }
    }

    fn problems(config: &StripeConfig) -> Vec<String> {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        problems
    }

    #[test]
    fn defaults_with_a_key_are_valid() {
        assert_eq!(problems(&valid()), Vec::<String>::new());
    }

    #[test]
    fn a_missing_or_malformed_key_is_reported_without_its_value() {
        let missing = StripeConfig::default();
        assert!(problems(&missing)[0].starts_with("stripe.secret_key: required"));

        let wrong = StripeConfig {
            secret_key: Secret::from("pk_live_publishable_by_mistake"),
            ..valid()
        };
        let found = problems(&wrong);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].contains("publishable_by_mistake"));
        assert!(!format!("{wrong:?}").contains("publishable_by_mistake"));
    }

    #[test]
    fn api_base_must_be_an_origin() {
        for good in [
            "https://api.stripe.com",
            "https://api.stripe.com/",
            "http://127.0.0.1:4010",
        ] {
            let config = StripeConfig {
                api_base: good.into(),
                ..valid()
            };
            assert!(problems(&config).is_empty(), "{good}");
        }
        for bad in [
            "api.stripe.com",
            "https://api.stripe.com/v1",
            "ftp://x",
            "https://",
        ] {
            let config = StripeConfig {
                api_base: bad.into(),
                ..valid()
            };
            assert!(problems(&config)[0].starts_with("stripe.api_base"), "{bad}");
        }
    }

    #[test]
    fn out_of_range_numbers_are_reported_once_each() {
        let config = StripeConfig {
            max_retries: 11,
            retry_base_ms: 0,
            request_timeout_ms: 10,
            ..valid()
        };
        let found = problems(&config);
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[quickcheck]
    fn backoff_stays_within_its_bounds(base_ms: u16, retry: u8) -> bool {
        let base = Duration::from_millis(u64::from(base_ms));
        let ceiling = base
            .saturating_mul(1_u32 << u32::from(retry).min(20))
            .min(MAX_BACKOFF);
        let delay = backoff(base, u32::from(retry));
        delay >= ceiling / 2 && delay <= ceiling
    }

    #[test]
    fn evidence_text_is_clipped_and_empty_text_is_omitted() {
        assert_eq!(evidence_text("  \n"), None);
        let long = "é".repeat(MAX_EVIDENCE_CHARS + 10);
        assert_eq!(
            evidence_text(&long).unwrap().chars().count(),
            MAX_EVIDENCE_CHARS
        );
    }
}
