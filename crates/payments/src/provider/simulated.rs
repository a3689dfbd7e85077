//! The simulated provider, the embedded default: it keeps its objects in memory, serves hosted
//! pages for checkout and onboarding on its own listener (as Stripe's are on another host), and
//! reports what happened as Stripe-shaped events, signed with the endpoint secret and delivered
//! to the gateway's webhook route with retries — the very pipeline Stripe's events take.
//!
//! Tests and `scripts/dev` drive it further through its control methods: move time (renewals,
//! period ends), fail renewals or payouts, refund and dispute payments.

use crate::errors::PaymentsError;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;
use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use df_common::{Error, secret::Secret};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    CheckoutMode, CheckoutRequest, CheckoutSession, DisputeEvidence, FeeLookup, PaymentProvider,
    PayoutRequest, RemoteSubscription,
};
use df_common::clock::Clock;

use crate::{money, webhook::signature};

/// A billing period of the simulated provider.
const PERIOD: chrono::Duration = chrono::Duration::days(30);
/// The dispute fee the simulated processor charges.
pub const DISPUTE_FEE: i64 = 1_500;

#[derive(Clone, Debug)]
struct SimSubscription {
    account: String,
    amount: i64,
    currency: String,
    fee_percent: f64,
    metadata: BTreeMap<String, String>,
    status: String,
    period_end: DateTime<Utc>,
    cancel_at_period_end: bool,
}

#[derive(Clone, Debug)]
struct SimCharge {
    payment_intent: String,
    amount: i64,
    refunded: i64,
    currency: String,
    metadata: BTreeMap<String, String>,
}

#[derive(Default)]
struct SimState {
    accounts: HashMap<String, df_common::ids::CreatorId>,
    sessions: HashMap<String, (CheckoutRequest, bool)>,
    subscriptions: HashMap<String, SimSubscription>,
    /// Charges by payment intent id (one charge each).
    charges: HashMap<String, SimCharge>,
    fail_renewals: bool,
    fail_payouts: u32,
    evidence: HashMap<String, DisputeEvidence>,
}

/// The simulated provider.
#[derive(Clone)]
pub struct SimulatedProvider {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<Mutex<SimState>>,
    clock: Clock,
    public_url: String,
    outbound: mpsc::UnboundedSender<Value>,
}

/// Delivers the simulated provider's events.
pub struct Deliveries {
    receiver: mpsc::UnboundedReceiver<Value>,
    secret: Secret<String>,
    webhook_url: String,
    attempts: u32,
    clock: Clock,
}

fn sim_id(prefix: &str) -> String {
    format!("{prefix}_sim_{}", uuid::Uuid::now_v7().simple())
}

impl SimulatedProvider {
    /// A provider whose pages live at `public_url` and whose events are signed with `secret`;
    /// run the returned [`Deliveries`] to send them to `webhook_url`. `previous` is the provider
    /// of an earlier start of this process's payments service: the new one keeps its accounts,
    /// subscriptions and payments, as the real provider outlives a restart of ours.
    pub fn new(
        clock: Clock,
        public_url: &str,
        secret: Secret<String>,
        webhook_url: &str,
        attempts: u32,
        previous: Option<&SimulatedProvider>,
    ) -> (Self, Deliveries) {
        let (outbound, receiver) = mpsc::unbounded_channel();
        let state = previous.map_or_else(Arc::default, |p| Arc::clone(&p.inner.state));
        let provider = Self {
            inner: Arc::new(Inner {
                state,
                clock: clock.clone(),
                public_url: public_url.trim_end_matches('/').to_owned(),
                outbound,
            }),
        };
        let deliveries = Deliveries {
            receiver,
            secret,
            webhook_url: webhook_url.to_owned(),
            attempts,
            clock,
        };
        (provider, deliveries)
    }

    fn state(&self) -> MutexGuard<'_, SimState> {
        // A poisoned lock only means a panic elsewhere; the maps are still consistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn emit(&self, event_type: &str, object: Value, account: Option<&str>) {
        let event = json!({
            "id": sim_id("evt"),
            "object": "event",
            "api_version": "2025-06-30.basil",
            "created": self.inner.clock.now().timestamp(),
            "livemode": false,
            "pending_webhooks": 1,
            "type": event_type,
            "account": account,
            "data": {"object": object},
        });
        // The receiver only goes away at shutdown.
        let _ = self.inner.outbound.send(event);
    }

    /// The hosted pages.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/pay/{session}", get(checkout_page).post(pay))
            .route("/connect/{account}", get(onboard))
            .with_state(self.clone())
    }

    /// Completes a checkout as if the fan paid on the hosted page; returns the success URL.
    pub fn complete_checkout(&self, session: &str) -> Result<String, Error> {
        let (request, done) = self
            .state()
            .sessions
            .get(session)
            .cloned()
            .ok_or_else(Error::not_found)?;
        if done {
            return Ok(request.success_url);
        }
        self.state()
            .sessions
            .insert(session.to_owned(), (request.clone(), true));
        let now = self.inner.clock.now();
        let metadata = json!(request.metadata);
        match &request.mode {
            CheckoutMode::Payment {
                amount,
                application_fee_amount,
                ..
            } => {
                let pi = sim_id("pi");
                let charge = format!("ch_for_{pi}");
                self.state().charges.insert(
                    pi.clone(),
                    SimCharge {
                        payment_intent: pi.clone(),
                        amount: *amount,
                        refunded: 0,
                        currency: request.currency.clone(),
                        metadata: request.metadata.clone(),
                    },
                );
                self.emit(
                    "checkout.session.completed",
                    json!({"id": session, "object": "checkout.session", "mode": "payment",
                           "payment_status": "paid", "status": "complete", "payment_intent": pi,
                           "subscription": null, "amount_total": amount,
                           "currency": request.currency, "metadata": metadata}),
                    None,
                );
                self.emit(
                    "payment_intent.succeeded",
                    json!({"id": pi, "object": "payment_intent", "amount": amount,
                           "amount_received": amount, "currency": request.currency,
                           "status": "succeeded", "latest_charge": charge,
                           "application_fee_amount": application_fee_amount,
                           "transfer_data": {"destination": request.destination_account},
                           "metadata": metadata}),
                    None,
                );
            }
            CheckoutMode::Subscription {
                unit_amount,
                trial_days,
                promo_percent_off,
                application_fee_percent,
                ..
            } => {
                let sub = sim_id("sub");
                let trial = *trial_days > 0;
                let period_end = if trial {
                    now + chrono::Duration::days(i64::from(*trial_days))
                } else {
                    now + PERIOD
                };
                let first = match promo_percent_off {
                    Some(pct) => unit_amount - money::basis_points(*unit_amount, pct * 100),
                    None => *unit_amount,
                };
                let status = if trial { "trialing" } else { "active" };
                self.state().subscriptions.insert(
                    sub.clone(),
                    SimSubscription {
                        account: request.destination_account.clone(),
                        amount: *unit_amount,
                        currency: request.currency.clone(),
                        fee_percent: *application_fee_percent,
                        metadata: request.metadata.clone(),
                        status: status.into(),
                        period_end,
                        cancel_at_period_end: false,
                    },
                );
                self.emit(
                    "checkout.session.completed",
                    json!({"id": session, "object": "checkout.session", "mode": "subscription",
                           "payment_status": "paid", "status": "complete", "payment_intent": null,
                           "subscription": sub, "currency": request.currency,
                           "metadata": metadata}),
                    None,
                );
                let amount = if trial { 0 } else { first };
                self.emit_invoice(&sub, amount, period_end, "subscription_create", true);
            }
        }
        Ok(request.success_url)
    }

    fn emit_invoice(
        &self,
        sub: &str,
        amount: i64,
        period_end: DateTime<Utc>,
        reason: &str,
        paid: bool,
    ) {
        let Some(s) = self.state().subscriptions.get(sub).cloned() else {
            return;
        };
        let fee = money::basis_points(amount, (s.fee_percent * 100.0).round() as u32);
        let invoice = json!({
            "id": sim_id("in"), "object": "invoice", "status": if paid {"paid"} else {"open"},
            "amount_due": amount, "amount_paid": if paid {amount} else {0},
            "currency": s.currency, "billing_reason": reason,
            "application_fee_amount": fee,
            "period_end": period_end.timestamp(),
            "lines": {"object": "list", "data": [{"object": "line_item", "amount": amount,
                "period": {"start": (period_end - PERIOD).timestamp(), "end": period_end.timestamp()}}]},
            "parent": {"type": "subscription_details",
                       "subscription_details": {"subscription": sub, "metadata": s.metadata}},
        });
        self.emit(
            if paid {
                "invoice.paid"
            } else {
                "invoice.payment_failed"
            },
            invoice,
            None,
        );
    }

    fn subscription_json(id: &str, s: &SimSubscription) -> Value {
        json!({"id": id, "object": "subscription", "status": s.status,
               "cancel_at_period_end": s.cancel_at_period_end,
               "items": {"object": "list", "data": [{"object": "subscription_item",
                   "current_period_end": s.period_end.timestamp()}]},
               "metadata": s.metadata, "transfer_data": {"destination": s.account}})
    }

    /// Moves time forward and does what the provider would have done meanwhile: renew (or
    /// fail to renew) subscriptions whose period ended, and end those cancelled.
    pub fn advance(&self, by: chrono::Duration) {
        self.inner.clock.advance(by);
        let now = self.inner.clock.now();
        let due: Vec<(String, SimSubscription)> = self
            .state()
            .subscriptions
            .iter()
            .filter(|(_, s)| s.status != "canceled" && s.period_end <= now)
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        let fail = self.state().fail_renewals;
        for (id, mut sub) in due {
            if sub.cancel_at_period_end {
                sub.status = "canceled".into();
                self.state().subscriptions.insert(id.clone(), sub.clone());
                let mut object = Self::subscription_json(&id, &sub);
                object["ended_at"] = json!(sub.period_end.timestamp());
                self.emit("customer.subscription.deleted", object, None);
            } else if fail {
                sub.status = "past_due".into();
                self.state().subscriptions.insert(id.clone(), sub.clone());
                self.emit_invoice(
                    &id,
                    sub.amount,
                    sub.period_end + PERIOD,
                    "subscription_cycle",
                    false,
                );
                self.emit(
                    "customer.subscription.updated",
                    Self::subscription_json(&id, &sub),
                    None,
                );
            } else {
                while sub.period_end <= now {
                    sub.period_end += PERIOD;
                }
                sub.status = "active".into();
                self.state().subscriptions.insert(id.clone(), sub.clone());
                self.emit_invoice(&id, sub.amount, sub.period_end, "subscription_cycle", true);
            }
        }
    }

    /// Makes renewals fail (or succeed again).
    pub fn set_fail_renewals(&self, fail: bool) {
        self.state().fail_renewals = fail;
    }

    /// Makes the next `count` payout calls fail.
    pub fn fail_next_payouts(&self, count: u32) {
        self.state().fail_payouts = count;
    }

    /// Records a one-off payment taken outside its own pages (seed data, replayed provider
    /// events), so that later look-ups, refunds and disputes find its payment intent.
    pub fn record_payment(
        &self,
        payment_intent: &str,
        amount: i64,
        currency: &str,
        metadata: BTreeMap<String, String>,
    ) {
        self.state().charges.insert(
            payment_intent.to_owned(),
            SimCharge {
                payment_intent: payment_intent.to_owned(),
                amount,
                refunded: 0,
                currency: currency.to_owned(),
                metadata,
            },
        );
    }

    /// Refunds part of a one-off payment (by payment intent id), as an admin would in the
    /// provider's dashboard.
    pub fn refund(&self, payment_intent: &str, amount: i64) -> Result<(), Error> {
        let charge = {
            let mut state = self.state();
            let charge = state
                .charges
                .get_mut(payment_intent)
                .ok_or_else(Error::not_found)?;
            charge.refunded = (charge.refunded + amount).min(charge.amount);
            charge.clone()
        };
        self.emit("charge.refunded", Self::charge_json(&charge), None);
        Ok(())
    }

    fn charge_json(c: &SimCharge) -> Value {
        json!({"id": format!("ch_for_{}", c.payment_intent), "object": "charge",
               "amount": c.amount, "amount_refunded": c.refunded, "currency": c.currency,
               "payment_intent": c.payment_intent, "refunded": c.refunded >= c.amount,
               "metadata": c.metadata})
    }

    /// Opens a dispute on a one-off payment; returns the dispute id.
    pub fn dispute(&self, payment_intent: &str) -> Result<String, Error> {
        let charge = self
            .state()
            .charges
            .get(payment_intent)
            .cloned()
            .ok_or_else(Error::not_found)?;
        let id = sim_id("dp");
        let due = self.inner.clock.now() + chrono::Duration::days(7);
        self.emit(
            "charge.dispute.created",
            Self::dispute_json(&id, &charge, "needs_response", due),
            None,
        );
        Ok(id)
    }

    /// Closes a dispute.
    pub fn close_dispute(&self, id: &str, payment_intent: &str, won: bool) -> Result<(), Error> {
        let charge = self
            .state()
            .charges
            .get(payment_intent)
            .cloned()
            .ok_or_else(Error::not_found)?;
        let due = self.inner.clock.now();
        self.emit(
            "charge.dispute.closed",
            Self::dispute_json(id, &charge, if won { "won" } else { "lost" }, due),
            None,
        );
        Ok(())
    }

    fn dispute_json(id: &str, c: &SimCharge, status: &str, due: DateTime<Utc>) -> Value {
        json!({"id": id, "object": "dispute", "amount": c.amount, "currency": c.currency,
               "payment_intent": c.payment_intent, "charge": format!("ch_for_{}", c.payment_intent),
               "status": status, "reason": "fraudulent",
               "evidence_details": {"due_by": due.timestamp(), "has_evidence": false},
               "balance_transactions": [{"object": "balance_transaction", "amount": -c.amount,
                                         "fee": DISPUTE_FEE}]})
    }

    /// Evidence submitted for a dispute.
    pub fn evidence_for(&self, dispute: &str) -> Option<DisputeEvidence> {
        self.state().evidence.get(dispute).cloned()
    }
}

impl Deliveries {
    /// Sends events in order until `shutdown`, retrying each with back-off like Stripe does.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "simulated provider cannot deliver webhooks");
                return;
            }
        };
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = self.receiver.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            let body = event.to_string();
            let mut delay = Duration::from_millis(50);
            for attempt in 1..=self.attempts {
                // Signed at each attempt, as Stripe does, so a retry is never stale.
                let header =
                    signature::sign(body.as_bytes(), &self.secret, self.clock.now().timestamp());
                let result = client
                    .post(&self.webhook_url)
                    .header("content-type", "application/json")
                    .header("stripe-signature", header)
                    .body(body.clone())
                    .send()
                    .await;
                match result {
                    Ok(response) if response.status().is_success() => break,
                    Ok(response)
                        if response.status().is_client_error()
                            && response.status() != StatusCode::TOO_MANY_REQUESTS
                            && response.status() != StatusCode::CONFLICT =>
                    {
                        tracing::warn!(status = %response.status(), "simulated webhook refused");
                        break;
                    }
                    _ if attempt == self.attempts => {
                        tracing::warn!("simulated webhook not delivered; giving up");
                    }
                    _ => {
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }
}

fn sim_unavailable(what: &str) -> Error {
    Error::from(PaymentsError::ProviderUnavailable)
        .with_cause(anyhow::anyhow!("simulated {what} failure"))
}

#[async_trait]
impl PaymentProvider for SimulatedProvider {
    async fn create_connected_account(
        &self,
        creator_id: df_common::ids::CreatorId,
        _country: &str,
    ) -> Result<String, Error> {
        let id = format!("acct_sim_{}", creator_id.as_uuid().simple());
        self.state().accounts.insert(id.clone(), creator_id);
        Ok(id)
    }

    async fn onboarding_link(
        &self,
        account: &str,
        return_url: &str,
        _refresh_url: &str,
    ) -> Result<String, Error> {
        let mut url = reqwest::Url::parse(&format!("{}/connect/{account}", self.inner.public_url))
            .map_err(Error::internal)?;
        url.query_pairs_mut().append_pair("return_url", return_url);
        Ok(url.to_string())
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, Error> {
        let id = format!("cs_sim_{}", request.checkout_id.as_uuid().simple());
        self.state()
            .sessions
            .entry(id.clone())
            .or_insert_with(|| (request.clone(), false));
        Ok(CheckoutSession {
            url: format!("{}/pay/{id}", self.inner.public_url),
            provider_id: id,
            expires_at: self.inner.clock.now() + chrono::Duration::hours(24),
        })
    }

    async fn cancel_at_period_end(&self, subscription: &str) -> Result<(), Error> {
        let sub = {
            let mut state = self.state();
            let sub = state
                .subscriptions
                .get_mut(subscription)
                .ok_or_else(Error::not_found)?;
            sub.cancel_at_period_end = true;
            sub.clone()
        };
        self.emit(
            "customer.subscription.updated",
            Self::subscription_json(subscription, &sub),
            None,
        );
        Ok(())
    }

    async fn retrieve_subscription(&self, subscription: &str) -> Result<RemoteSubscription, Error> {
        let sub = self
            .state()
            .subscriptions
            .get(subscription)
            .cloned()
            .ok_or_else(Error::not_found)?;
        Ok(RemoteSubscription {
            id: subscription.to_owned(),
            status: sub.status,
            current_period_end: sub.period_end,
            cancel_at_period_end: sub.cancel_at_period_end,
        })
    }

    async fn processor_fee(&self, lookup: &FeeLookup) -> Result<i64, Error> {
        Ok(money::simulated_processor_fee(lookup.amount))
    }

    async fn payment_intent_metadata(
        &self,
        payment_intent: &str,
    ) -> Result<Option<BTreeMap<String, String>>, Error> {
        Ok(self
            .state()
            .charges
            .get(payment_intent)
            .map(|charge| charge.metadata.clone()))
    }

    async fn create_payout(&self, request: &PayoutRequest) -> Result<String, Error> {
        {
            let mut state = self.state();
            if state.fail_payouts > 0 {
                state.fail_payouts -= 1;
                return Err(sim_unavailable("payout"));
            }
        }
        let id = format!("po_sim_{}", request.payout_id.as_uuid().simple());
        self.emit(
            "payout.paid",
            json!({"id": id, "object": "payout", "amount": request.amount,
                   "currency": request.currency, "status": "paid",
                   "metadata": {"df_payout_id": request.payout_id.to_string()}}),
            Some(&request.account),
        );
        Ok(id)
    }

    async fn submit_dispute_evidence(
        &self,
        dispute: &str,
        evidence: &DisputeEvidence,
    ) -> Result<(), Error> {
        self.state()
            .evidence
            .insert(dispute.to_owned(), evidence.clone());
        Ok(())
    }
}

async fn checkout_page(
    State(sim): State<SimulatedProvider>,
    Path(session): Path<String>,
) -> Response {
    let Some((request, done)) = sim.state().sessions.get(&session).cloned() else {
        return (StatusCode::NOT_FOUND, "no such checkout").into_response();
    };
    let (what, amount) = match &request.mode {
        CheckoutMode::Payment {
            description,
            amount,
            ..
        } => (description.clone(), *amount),
        CheckoutMode::Subscription {
            tier_name,
            unit_amount,
            ..
        } => (format!("{tier_name} (monthly)"), *unit_amount),
    };
    let what: String = what
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let status = if done { "Paid." } else { "" };
    Html(format!(
        "<!doctype html><title>Simulated checkout</title><h1>Simulated checkout</h1>\
         <p>{what}: {amount} {currency} (minor units)</p><p>{status}</p>\
         <form method=post><button>Pay</button></form>",
        currency = request.currency.to_uppercase()
    ))
    .into_response()
}

async fn pay(State(sim): State<SimulatedProvider>, Path(session): Path<String>) -> Response {
    match sim.complete_checkout(&session) {
        Ok(success_url) => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, success_url)]).into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "no such checkout").into_response(),
    }
}

async fn onboard(
    State(sim): State<SimulatedProvider>,
    Path(account): Path<String>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let Some(creator) = sim.state().accounts.get(&account).copied() else {
        return (StatusCode::NOT_FOUND, "no such account").into_response();
    };
    sim.emit(
        "account.updated",
        json!({"id": account, "object": "account", "type": "express", "country": "US",
               "charges_enabled": true, "payouts_enabled": true, "details_submitted": true,
               "default_currency": "usd", "metadata": {"creator_id": creator.to_string()},
               "requirements": {"disabled_reason": null, "currently_due": []}}),
        Some(&account),
    );
    match query.get("return_url") {
        Some(url) => (StatusCode::SEE_OTHER, [(header::LOCATION, url.clone())]).into_response(),
        None => Html("<!doctype html><p>Onboarding complete.</p>".to_owned()).into_response(),
    }
}
