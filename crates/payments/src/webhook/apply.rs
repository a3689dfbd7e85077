//! Applies a verified provider event exactly once. The event id goes into `webhook_events` in
//! the same transaction as every change the event makes, so a redelivery is a no-op and a crash
//! half-way applies nothing. Lookups at the provider (fees, current subscription state) happen
//! before the transaction opens, so no connection is held across a network call.
//!
//! An event about something not known here is one of two things. If the object is ours (it
//! carries the references payments puts on what it creates, or its payment intent does), the
//! event overtook the one that creates it: it is refused as retryable, and the provider
//! delivers it again later. If the object is not ours (another integration on the same
//! provider account), retrying cannot help: the event is acknowledged and ignored, and counted
//! in `df_payments_webhook_foreign_events_total`.

use crate::errors::PaymentsError;
use crate::ids::{CheckoutId, PayoutId};
use crate::status::{AccountStatus, CheckoutStatus, SubscriptionStatus};
use chrono::{DateTime, Utc};
use df_common::{
    Error,
    ids::{CreatorId, UserId},
};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::kind::{DisputeStage, EventKind};
use super::{
    batch::PaymentBatcher,
    event::{self, Event, Obj, metadata_id},
    seen::SeenEvents,
    signature,
};
use crate::{
    charges::{self, Kind, NewPayment},
    disputes,
    money::FeeSplit,
    payouts,
    provider::{FeeLookup, RemoteSubscription},
    schema::{checkouts, payout_accounts, webhook_events},
    service::{Service, out_of_order},
    subscriptions::{self, Attribution},
};

/// What happened to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its changes were made.
    Applied,
    /// It was applied before; nothing changed.
    Duplicate,
    /// Not an event payments acts on (recorded, so redeliveries stay cheap).
    Ignored,
}

impl Outcome {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
        }
    }
}

/// The webhook pipeline: the service's flows, plus what only webhooks need, the batcher of
/// one-off payments and the check for redelivered events.
#[derive(Clone)]
pub struct Webhooks {
    service: Service,
    payment_batches: PaymentBatcher,
    seen_events: SeenEvents,
}

impl Webhooks {
    /// Starts the pipeline's batcher and redelivery check on `service`'s database.
    pub fn spawn(service: Service) -> Self {
        Self {
            payment_batches: PaymentBatcher::spawn(
                service.db.clone(),
                service.entitlements.clone(),
                service.relay.clone(),
            ),
            seen_events: SeenEvents::spawn(service.db.clone()),
            service,
        }
    }

    /// The flows the pipeline applies events with.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Verifies, parses and applies one webhook delivery.
    pub async fn ingest(
        &self,
        payload: &[u8],
        signature_header: &str,
    ) -> Result<(String, Outcome), Error> {
        ingest(self, payload, signature_header).await
    }
}

/// Verifies, parses and applies one webhook delivery.
async fn ingest(
    webhooks: &Webhooks,
    payload: &[u8],
    signature_header: &str,
) -> Result<(String, Outcome), Error> {
    let service = &webhooks.service;
    signature::verify_off_async_threads(
        payload,
        signature_header,
        service.webhooks.secrets(),
        service.webhooks.tolerance_secs,
        service.clock.now().timestamp(),
    )
    .await?;
    let event = Event::parse(payload)?;
    if webhooks.seen_events.contains(&event.id).await? {
        return Ok((event.id, Outcome::Duplicate));
    }
    let remote = prefetch(service, &event).await?;
    // Tips and PPV purchases are written together with whatever else is arriving.
    if event.kind() == EventKind::PaymentSucceeded
        && let Some(payment) =
            one_off_payment(service, event.object(), &remote, event.created_at())?
    {
        let outcome = webhooks
            .payment_batches
            .apply(&event.id, &event.event_type, event.created_at(), payment)
            .await?;
        return Ok((event.id, outcome));
    }
    let mut conn = service.db.conn().await?;
    let (event_ref, remote_ref) = (&event, &remote);
    let (outcome, fans) = conn
        .transaction::<(Outcome, Vec<UserId>), Error, _>(async move |conn| {
            let (event, remote) = (event_ref, remote_ref);
            {
                let recorded = diesel::insert_into(webhook_events::table)
                    .values((
                        webhook_events::event_id.eq(&event.id),
                        webhook_events::event_type.eq(&event.event_type),
                        webhook_events::created_at.eq(event.created_at()),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if recorded == 0 {
                    return Ok((Outcome::Duplicate, Vec::new()));
                }
                let (outcome, fans) = apply(service, conn, event, remote).await?;
                crate::entitlements::announce_fans(conn, &fans).await?;
                Ok((outcome, fans))
            }
        })
        .await?;
    service.after_commit(&fans).await;
    Ok((event.id, outcome))
}

/// What was looked up at the provider before the transaction.
#[derive(Default)]
struct Remote {
    processor_fee: Option<i64>,
    subscription: Option<RemoteSubscription>,
    /// For an event about a charge not known here and carrying none of our references: whether
    /// its payment intent does (`Some(false)`: the provider has none, or one without them).
    payment_intent_ours: Option<bool>,
}

/// The references payments puts on every object it creates at the provider.
fn carries_our_references(obj: Obj<'_>) -> bool {
    metadata_id::<CheckoutId>(obj, "df_checkout_id").is_some()
        || metadata_id::<PayoutId>(obj, "df_payout_id").is_some()
        || (metadata_id::<UserId>(obj, "fan_id").is_some()
            && metadata_id::<CreatorId>(obj, "creator_id").is_some())
}

/// Marks an event about an object this platform never created.
#[derive(Debug, thiserror::Error)]
#[error("the event is about a {0} this platform did not create")]
struct ForeignObject(&'static str);

fn foreign(what: &'static str) -> Error {
    Error::from(PaymentsError::WebhookForeignObject).with_cause(ForeignObject(what))
}

fn is_foreign(error: &Error) -> bool {
    error
        .cause()
        .is_some_and(|cause| cause.downcast_ref::<ForeignObject>().is_some())
}

/// Events acknowledged without effect because their object is not ours, by event type.
static FOREIGN_EVENTS: std::sync::LazyLock<Option<prometheus::IntCounterVec>> =
    std::sync::LazyLock::new(|| {
        df_common::telemetry::metrics::counter_vec(
            "df_payments_webhook_foreign_events_total",
            "Provider events about objects payments did not create, acknowledged and ignored.",
            &["event_type"],
        )
        .ok()
    });

/// Whether the charge an event is about (not known here, without our references) belongs to a
/// payment intent of ours; `None` when the event needs no such look-up.
async fn charge_owner(service: &Service, obj: Obj<'_>, known: bool) -> Result<Option<bool>, Error> {
    if known || carries_our_references(obj) {
        return Ok(None);
    }
    let Some(intent) = obj.id_of("payment_intent") else {
        return Ok(Some(false));
    };
    let metadata = service.provider.payment_intent_metadata(intent).await?;
    Ok(Some(metadata.is_some_and(|metadata| {
        metadata.contains_key("df_checkout_id")
            || (metadata.contains_key("fan_id") && metadata.contains_key("creator_id"))
    })))
}

async fn prefetch(service: &Service, event: &Event) -> Result<Remote, Error> {
    let obj = event.object();
    let mut remote = Remote::default();
    match event.kind() {
        EventKind::PaymentSucceeded => {
            let amount = obj
                .int("amount_received")
                .filter(|a| *a > 0)
                .or(obj.int("amount"));
            remote.processor_fee = Some(
                service
                    .provider
                    .processor_fee(&FeeLookup {
                        balance_transaction: obj
                            .get("latest_charge")
                            .id_of("balance_transaction")
                            .map(str::to_owned),
                        charge: obj.id_of("latest_charge").map(str::to_owned),
                        payment_intent: obj.str("id").map(str::to_owned),
                        invoice: None,
                        amount: amount.unwrap_or(0),
                        currency: obj.str("currency").unwrap_or_default().to_owned(),
                    })
                    .await?,
            );
        }
        EventKind::InvoicePaid => {
            let amount = obj.int("amount_paid").unwrap_or(0);
            if amount > 0 {
                remote.processor_fee = Some(
                    service
                        .provider
                        .processor_fee(&FeeLookup {
                            balance_transaction: None,
                            charge: obj.id_of("charge").map(str::to_owned),
                            payment_intent: obj.id_of("payment_intent").map(str::to_owned),
                            invoice: obj.str("id").map(str::to_owned),
                            amount,
                            currency: obj.str("currency").unwrap_or_default().to_owned(),
                        })
                        .await?,
                );
            }
        }
        EventKind::Refunded => {
            // Only needed when the refund arrives before the payment it refunds.
            let charge = obj.str("id").unwrap_or_default();
            let pi = obj.id_of("payment_intent").unwrap_or_default();
            let mut conn = service.db.conn().await?;
            let known = charges::find_for_update(&mut conn, Some(charge), &[pi]).await?;
            drop(conn);
            remote.payment_intent_ours = charge_owner(service, obj, known.is_some()).await?;
            if known.is_none() && remote.payment_intent_ours != Some(false) {
                remote.processor_fee = Some(
                    service
                        .provider
                        .processor_fee(&FeeLookup {
                            balance_transaction: obj
                                .id_of("balance_transaction")
                                .map(str::to_owned),
                            charge: Some(charge.to_owned()),
                            payment_intent: (!pi.is_empty()).then(|| pi.to_owned()),
                            invoice: None,
                            amount: obj.int("amount").unwrap_or(0),
                            currency: obj.str("currency").unwrap_or_default().to_owned(),
                        })
                        .await?,
                );
            }
        }
        EventKind::Dispute(_) => {
            let mut conn = service.db.conn().await?;
            let known = charges::find_for_update(
                &mut conn,
                obj.id_of("charge"),
                &[obj.id_of("payment_intent").unwrap_or_default()],
            )
            .await?;
            drop(conn);
            remote.payment_intent_ours = charge_owner(service, obj, known.is_some()).await?;
        }
        EventKind::CheckoutCompleted => {
            if let Some(sub) = obj.id_of("subscription") {
                remote.subscription = fetch_subscription(service, sub).await;
            }
        }
        EventKind::SubscriptionChanged => {
            if let Some(sub) = obj.str("id") {
                remote.subscription = fetch_subscription(service, sub).await;
            }
        }
        _ => {}
    }
    Ok(remote)
}

/// The provider's current state, or `None` when it cannot be fetched (the event's own copy is
/// then used, guarded by the event's time).
async fn fetch_subscription(service: &Service, id: &str) -> Option<RemoteSubscription> {
    match service.provider.retrieve_subscription(id).await {
        Ok(sub) => Some(sub),
        Err(e) => {
            tracing::info!(
                code = e.code(),
                "subscription state not fetched; using the event's copy"
            );
            None
        }
    }
}

async fn apply(
    service: &Service,
    conn: &mut AsyncPgConnection,
    event: &Event,
    remote: &Remote,
) -> Result<(Outcome, Vec<UserId>), Error> {
    match apply_known(service, conn, event, remote).await {
        // Nothing was changed before the object turned out not to be ours; the event stays
        // recorded, so redeliveries are duplicates.
        Err(error) if is_foreign(&error) => {
            if let Some(counter) = FOREIGN_EVENTS.as_ref() {
                counter
                    .with_label_values(&[event.event_type.as_str()])
                    .inc();
            }
            tracing::info!(event_type = %event.event_type, "provider event about an object we did not create; ignored");
            Ok((Outcome::Ignored, Vec::new()))
        }
        other => other,
    }
}

async fn apply_known(
    service: &Service,
    conn: &mut AsyncPgConnection,
    event: &Event,
    remote: &Remote,
) -> Result<(Outcome, Vec<UserId>), Error> {
    let obj = event.object();
    let at = event.created_at();
    let fans = match event.kind() {
        EventKind::CheckoutCompleted => checkout_completed(conn, obj, remote, at).await?,
        // Tips and PPV purchases were booked by the batcher in `ingest`; a payment intent that
        // reaches this point is a subscription invoice's, booked by its invoice event.
        EventKind::PaymentSucceeded => Vec::new(),
        EventKind::PaymentFailed => {
            if let Some(checkout) = metadata_id::<CheckoutId>(obj, "df_checkout_id") {
                tracing::info!(%checkout, "one-off payment failed");
            }
            Vec::new()
        }
        EventKind::InvoicePaid => invoice_paid(service, conn, obj, remote, at).await?,
        EventKind::InvoiceFailed => invoice_failed(conn, obj, at).await?,
        EventKind::SubscriptionChanged => subscription_changed(conn, obj, remote, at).await?,
        EventKind::SubscriptionDeleted => subscription_deleted(conn, obj, at).await?,
        EventKind::Refunded => refunded(service, conn, obj, remote, at).await?,
        EventKind::Dispute(stage) => dispute(service, conn, stage, obj, remote, at).await?,
        EventKind::AccountUpdated => {
            account_updated(conn, obj, at).await?;
            Vec::new()
        }
        EventKind::Payout { paid } => {
            let id = obj.str("id").unwrap_or_default();
            let known = payouts::on_provider_result(
                conn,
                id,
                metadata_id(obj, "df_payout_id"),
                paid,
                obj.str("failure_code"),
                at,
            )
            .await?;
            if !known {
                tracing::info!("payout event for a payout we did not start");
            }
            Vec::new()
        }
        EventKind::Other => return Ok((Outcome::Ignored, Vec::new())),
    };
    Ok((Outcome::Applied, fans))
}

fn attribution(obj: Obj<'_>) -> Option<Attribution> {
    Some(Attribution {
        fan_id: metadata_id(obj, "fan_id")?,
        creator_id: metadata_id(obj, "creator_id")?,
        tier_id: metadata_id(obj, "tier_id")?,
    })
}

fn unattributed() -> Error {
    Error::from(PaymentsError::WebhookUnattributed)
}

async fn checkout_completed(
    conn: &mut AsyncPgConnection,
    obj: Obj<'_>,
    remote: &Remote,
    at: DateTime<Utc>,
) -> Result<Vec<UserId>, Error> {
    if let Some(checkout) = metadata_id::<CheckoutId>(obj, "df_checkout_id") {
        diesel::update(checkouts::table.find(checkout))
            .set(checkouts::status.eq(CheckoutStatus::Completed))
            .execute(conn)
            .await?;
    }
    let Some(sub) = obj.id_of("subscription") else {
        return Ok(Vec::new());
    };
    let who = match attribution(obj) {
        Some(who) => who,
        None if carries_our_references(obj) => return Err(unattributed()),
        None => return Err(foreign("checkout session")),
    };
    let (status, period_end) = match &remote.subscription {
        Some(r) => (
            subscriptions::status_from_provider(&r.status),
            r.current_period_end,
        ),
        // Without the provider's view, access starts with the first paid invoice.
        None => (SubscriptionStatus::Incomplete, at),
    };
    let row = subscriptions::ensure(conn, sub, who, status, period_end).await?;
    if let Some(r) = &remote.subscription {
        subscriptions::apply_state(conn, &row, r, at).await?;
    }
    Ok(vec![who.fan_id])
}

fn split_for(obj: Obj<'_>, gross: i64, fee_bps: u32) -> FeeSplit {
    // The fee the provider actually applied wins over our own computation.
    match obj.int("application_fee_amount") {
        Some(fee) if (0..=gross).contains(&fee) => FeeSplit {
            gross,
            platform_fee: fee,
            creator_net: gross - fee,
        },
        _ => FeeSplit::of(gross, fee_bps),
    }
}

/// The tip or PPV purchase a succeeded payment intent pays for; `None` for payment intents
/// of subscription invoices, which carry no metadata of ours.
fn one_off_payment(
    service: &Service,
    obj: Obj<'_>,
    remote: &Remote,
    at: DateTime<Utc>,
) -> Result<Option<NewPayment>, Error> {
    let kind = obj.metadata("kind").and_then(Kind::parse);
    let (Some(kind @ (Kind::Tip | Kind::Ppv)), Some(fan_id), Some(creator_id)) = (
        kind,
        metadata_id(obj, "fan_id"),
        metadata_id(obj, "creator_id"),
    ) else {
        return Ok(None);
    };
    let gross = obj
        .int("amount_received")
        .filter(|a| *a > 0)
        .or(obj.int("amount"))
        .unwrap_or(0);
    if gross <= 0 {
        return Err(unattributed());
    }
    let ppv_item_id = metadata_id(obj, "ppv_item_id");
    if kind == Kind::Ppv && ppv_item_id.is_none() {
        return Err(unattributed());
    }
    Ok(Some(NewPayment {
        provider_payment_id: obj.str("id").unwrap_or_default().to_owned(),
        provider_charge_id: obj.id_of("latest_charge").map(str::to_owned),
        kind,
        fan_id,
        creator_id,
        subscription_id: None,
        ppv_item_id,
        checkout_id: metadata_id(obj, "df_checkout_id"),
        split: split_for(obj, gross, service.policy.platform_fee_bps),
        processor_fee: remote.processor_fee.unwrap_or(0).clamp(0, gross),
        currency: obj.str("currency").unwrap_or("usd").to_owned(),
        message: obj.metadata("message").map(str::to_owned),
        occurred_at: at,
        available_at: at + service.hold(),
    }))
}

async fn invoice_paid(
    service: &Service,
    conn: &mut AsyncPgConnection,
    obj: Obj<'_>,
    remote: &Remote,
    at: DateTime<Utc>,
) -> Result<Vec<UserId>, Error> {
    let Some(sub) = event::invoice_subscription(obj) else {
        return Ok(Vec::new());
    };
    let period_end = event::invoice_period_end(obj).unwrap_or(at);
    let who = attribution(event::invoice_subscription_metadata(obj));
    let row = match (subscriptions::find_for_update(conn, sub).await?, who) {
        (Some(row), _) => row,
        (None, Some(who)) => {
            subscriptions::ensure(conn, sub, who, SubscriptionStatus::Active, period_end).await?
        }
        (None, None) => return Err(foreign("subscription")),
    };
    let amount = obj.int("amount_paid").unwrap_or(0);
    if amount > 0 {
        let payment = NewPayment {
            provider_payment_id: obj.str("id").unwrap_or_default().to_owned(),
            provider_charge_id: obj.id_of("charge").map(str::to_owned),
            kind: Kind::Subscription,
            fan_id: row.fan_id,
            creator_id: row.creator_id,
            subscription_id: Some(row.id),
            ppv_item_id: None,
            checkout_id: None,
            split: split_for(obj, amount, service.policy.platform_fee_bps),
            processor_fee: remote.processor_fee.unwrap_or(0).clamp(0, amount),
            currency: obj.str("currency").unwrap_or("usd").to_owned(),
            message: None,
            occurred_at: at,
            available_at: at + service.hold(),
        };
        charges::book_payment(conn, &payment).await?;
    }
    subscriptions::paid_through(conn, &row, period_end).await?;
    Ok(vec![row.fan_id])
}

async fn invoice_failed(
    conn: &mut AsyncPgConnection,
    obj: Obj<'_>,
    at: DateTime<Utc>,
) -> Result<Vec<UserId>, Error> {
    let Some(sub) = event::invoice_subscription(obj) else {
        return Ok(Vec::new());
    };
    let Some(row) = subscriptions::find_for_update(conn, sub).await? else {
        return Err(
            match attribution(event::invoice_subscription_metadata(obj)) {
                Some(_) => out_of_order("subscription"),
                None => foreign("subscription"),
            },
        );
    };
    subscriptions::renewal_failed(conn, &row, at).await?;
    Ok(vec![row.fan_id])
}

async fn subscription_changed(
    conn: &mut AsyncPgConnection,
    obj: Obj<'_>,
    remote: &Remote,
    at: DateTime<Utc>,
) -> Result<Vec<UserId>, Error> {
    let id = obj.str("id").unwrap_or_default();
    let state = match &remote.subscription {
        Some(state) => state.clone(),
        None => RemoteSubscription {
            id: id.to_owned(),
            status: obj.str("status").unwrap_or_default().to_owned(),
            current_period_end: event::subscription_period_end(obj).unwrap_or(at),
            cancel_at_period_end: obj.flag("cancel_at_period_end"),
        },
    };
    let row = match (
        subscriptions::find_for_update(conn, id).await?,
        attribution(obj),
    ) {
        (Some(row), _) => row,
        (None, Some(who)) => {
            subscriptions::ensure(
                conn,
                id,
                who,
                subscriptions::status_from_provider(&state.status),
                state.current_period_end,
            )
            .await?
        }
        (None, None) => return Err(foreign("subscription")),
    };
    // The fetched state is current whatever the event's age; the event's own copy only counts
    // when it is newer than what was applied.
    let observed = if remote.subscription.is_some() {
        row.provider_event_at.map_or(at, |seen| seen.max(at))
    } else {
        at
    };
    subscriptions::apply_state(conn, &row, &state, observed).await?;
    Ok(vec![row.fan_id])
}

async fn subscription_deleted(
    conn: &mut AsyncPgConnection,
    obj: Obj<'_>,
    at: DateTime<Utc>,
) -> Result<Vec<UserId>, Error> {
    let id = obj.str("id").unwrap_or_default();
    let Some(row) = subscriptions::find_for_update(conn, id).await? else {
        return Err(match attribution(obj) {
            Some(_) => out_of_order("subscription"),
            None => foreign("subscription"),
        });
    };
    let ended_at = obj.time("ended_at").unwrap_or(at);
    subscriptions::ended(conn, &row, ended_at).await?;
    Ok(vec![row.fan_id])
}

async fn refunded(
    service: &Service,
    conn: &mut AsyncPgConnection,
    obj: Obj<'_>,
    remote: &Remote,
    at: DateTime<Utc>,
) -> Result<Vec<UserId>, Error> {
    let charge = obj.str("id").unwrap_or_default();
    let pi = obj.id_of("payment_intent").unwrap_or_default();
    let invoice = obj.id_of("invoice").unwrap_or_default();
    let mut payment = charges::find_for_update(conn, Some(charge), &[pi, invoice]).await?;
    if payment.is_none() {
        // The refund overtook the payment: book the payment from the charge, which carries the
        // same references (metadata, amount) as its payment intent.
        let kind = obj.metadata("kind").and_then(Kind::parse);
        let (Some(kind @ (Kind::Tip | Kind::Ppv)), Some(fan_id), Some(creator_id)) = (
            kind,
            metadata_id(obj, "fan_id"),
            metadata_id(obj, "creator_id"),
        ) else {
            return Err(if remote.payment_intent_ours == Some(false) {
                foreign("charge")
            } else {
                out_of_order("payment")
            });
        };
        let gross = obj.int("amount").unwrap_or(0);
        if gross <= 0 || pi.is_empty() {
            return Err(unattributed());
        }
        let new = NewPayment {
            provider_payment_id: pi.to_owned(),
            provider_charge_id: Some(charge.to_owned()),
            kind,
            fan_id,
            creator_id,
            subscription_id: None,
            ppv_item_id: metadata_id(obj, "ppv_item_id"),
            checkout_id: metadata_id(obj, "df_checkout_id"),
            split: split_for(obj, gross, service.policy.platform_fee_bps),
            processor_fee: remote.processor_fee.unwrap_or(0).clamp(0, gross),
            currency: obj.str("currency").unwrap_or("usd").to_owned(),
            message: obj.metadata("message").map(str::to_owned),
            occurred_at: at,
            available_at: at + service.hold(),
        };
        charges::book_payment(conn, &new).await?;
        payment = charges::find_for_update(conn, Some(charge), &[pi]).await?;
    }
    let payment = payment.ok_or_else(|| out_of_order("payment"))?;
    let fans =
        charges::apply_refund_total(conn, &payment, obj.int("amount_refunded").unwrap_or(0), at)
            .await?;
    Ok(fans.into_iter().collect())
}

async fn dispute(
    service: &Service,
    conn: &mut AsyncPgConnection,
    stage: DisputeStage,
    obj: Obj<'_>,
    remote: &Remote,
    at: DateTime<Utc>,
) -> Result<Vec<UserId>, Error> {
    let charge = obj.id_of("charge");
    let pi = obj.id_of("payment_intent").unwrap_or_default();
    let Some(payment) = charges::find_for_update(conn, charge, &[pi]).await? else {
        return Err(if remote.payment_intent_ours == Some(false) {
            foreign("charge")
        } else {
            out_of_order("payment")
        });
    };
    let fee: i64 = obj
        .0
        .get("balance_transactions")
        .and_then(|v| v.as_array())
        .map(|txns| {
            txns.iter()
                .filter_map(|t| t.get("fee").and_then(serde_json::Value::as_i64))
                .filter(|fee| *fee > 0)
                .sum()
        })
        .unwrap_or(0);
    let reported = disputes::Reported {
        provider_dispute_id: obj.str("id").unwrap_or_default().to_owned(),
        amount: obj
            .int("amount")
            .unwrap_or(payment.gross)
            .clamp(1, payment.gross),
        fee,
        status: obj.str("status").unwrap_or_default().to_owned(),
        reason: obj
            .str("reason")
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect(),
        evidence_due_by: obj.get("evidence_details").time("due_by"),
    };
    if reported.provider_dispute_id.is_empty() {
        return Err(unattributed());
    }
    // Whatever the order, the dispute is opened once before it changes or closes.
    let mut fans = disputes::open(
        conn,
        &payment,
        &reported,
        at,
        service.policy.dispute_flag_threshold,
    )
    .await?;
    if stage != DisputeStage::Created {
        // Re-read: opening it may have changed the payment's pending share.
        let payment = charges::find_for_update(conn, charge, &[pi])
            .await?
            .ok_or_else(|| out_of_order("payment"))?;
        fans.extend(disputes::update(conn, &payment, &reported, at).await?);
    }
    Ok(fans)
}

async fn account_updated(
    conn: &mut AsyncPgConnection,
    obj: Obj<'_>,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let id = obj.str("id").unwrap_or_default();
    let charges_enabled = obj.flag("charges_enabled");
    let payouts_enabled = obj.flag("payouts_enabled");
    let disabled = obj.get("requirements").str("disabled_reason").is_some();
    let status = if charges_enabled && payouts_enabled {
        AccountStatus::Enabled
    } else if disabled {
        AccountStatus::Restricted
    } else {
        AccountStatus::Pending
    };
    // Older events never overwrite newer state.
    diesel::update(payout_accounts::table)
        .filter(payout_accounts::provider_account_id.eq(id))
        .filter(
            payout_accounts::provider_event_at
                .is_null()
                .or(payout_accounts::provider_event_at.le(at)),
        )
        .set((
            payout_accounts::status.eq(status),
            payout_accounts::charges_enabled.eq(charges_enabled),
            payout_accounts::payouts_enabled.eq(payouts_enabled),
            payout_accounts::provider_event_at.eq(Some(at)),
            payout_accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
