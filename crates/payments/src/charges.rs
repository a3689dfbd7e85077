//! Captured payments and their refunds: the rows, the ledger transactions, PPV access, events.

use crate::ids::{CheckoutId, PaymentId, PpvItemId, SubscriptionId, TransactionId};
use crate::status::PaymentStatus;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use df_common::Error;
use df_common::ids::{CreatorId, UserId};
use df_proto::events::v1 as ev;
use df_runtime::bus::outbox;
use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, sql_types};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    ledger::{self, Transaction, TransactionKind, policy},
    money::FeeSplit,
    schema::{payment_details, payments, ppv_purchases},
    service::SERVICE,
};

/// What kind of purchase a payment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A subscription invoice.
    Subscription,
    /// A tip.
    Tip,
    /// A PPV purchase.
    Ppv,
}

impl Kind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Subscription => "subscription",
            Kind::Tip => "tip",
            Kind::Ppv => "ppv",
        }
    }

    /// Parses a stored (or metadata) name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "subscription" => Some(Kind::Subscription),
            "tip" => Some(Kind::Tip),
            "ppv" => Some(Kind::Ppv),
            _ => None,
        }
    }
}

/// A payment to book.
#[derive(Clone, Debug)]
pub struct NewPayment {
    /// `pi_...` or `in_...`: the idempotency key of the booking.
    pub provider_payment_id: String,
    /// `ch_...`, when known.
    pub provider_charge_id: Option<String>,
    /// What was bought.
    pub kind: Kind,
    /// Who paid.
    pub fan_id: UserId,
    /// Who earns.
    pub creator_id: CreatorId,
    /// For subscription payments.
    pub subscription_id: Option<SubscriptionId>,
    /// For PPV purchases.
    pub ppv_item_id: Option<PpvItemId>,
    /// The checkout it came from.
    pub checkout_id: Option<CheckoutId>,
    /// Gross and split.
    pub split: FeeSplit,
    /// The processor's fee.
    pub processor_fee: i64,
    /// ISO 4217.
    pub currency: String,
    /// A tip's message.
    pub message: Option<String>,
    /// When it was captured.
    pub occurred_at: DateTime<Utc>,
    /// When the hold ends.
    pub available_at: DateTime<Utc>,
}

diesel::define_sql_function! {
    /// Books an array of payments (migration `000004_batch_booking`); per payment, its id when
    /// it was new.
    fn payments_book_many(p: sql_types::Jsonb) -> sql_types::Array<sql_types::Nullable<sql_types::Uuid>>;
}

/// Everything the `payments_book_many` database function writes for `payment`: the row, the
/// ledger postings (computed here, by the reserve policy) and the sealed outbox event.
pub(crate) fn booking(payment: &NewPayment) -> Result<serde_json::Value, Error> {
    let id = PaymentId::new();
    let postings = policy::payment(payment.split, payment.processor_fee);
    let postings: Vec<_> = postings.into_iter().filter(|p| p.amount != 0).collect();
    let (event_id, event) = outbox::seal(
        SERVICE,
        &ev::PaymentSucceeded {
            payment_id: id.to_string(),
            fan_id: payment.fan_id.to_string(),
            creator_id: payment.creator_id.to_string(),
            kind: payment.kind.as_str().into(),
            gross: payment.split.gross,
            currency: payment.currency.clone(),
        },
    )?;
    Ok(serde_json::json!({
        "id": id,
        "provider_payment_id": payment.provider_payment_id,
        "provider_charge_id": payment.provider_charge_id,
        "kind": payment.kind.as_str(),
        "fan_id": payment.fan_id,
        "creator_id": payment.creator_id,
        "subscription_id": payment.subscription_id,
        "ppv_item_id": payment.ppv_item_id,
        "checkout_id": payment.checkout_id,
        "gross": payment.split.gross,
        "platform_fee": payment.split.platform_fee,
        "processor_fee": payment.processor_fee,
        "net": payment.split.creator_net,
        "currency": payment.currency,
        "message": payment.message,
        "available_at": payment.available_at,
        "occurred_at": payment.occurred_at,
        "transaction_id": TransactionId::new(),
        "postings": ledger::postings_json(&postings),
        "event_id": event_id.as_uuid(),
        "event_type": <ev::PaymentSucceeded as df_proto::Event>::ROUTING_KEY,
        "event": base64::engine::general_purpose::STANDARD.encode(event),
    }))
}

/// Books `payment` unless it was booked before: the payment row, its balanced ledger
/// transaction, the PPV access it buys and its event, in one call to the database. Returns the
/// payment id when it was new. Must run inside a transaction.
pub async fn book_payment(
    conn: &mut AsyncPgConnection,
    payment: &NewPayment,
) -> Result<Option<PaymentId>, Error> {
    let booked = book_payments(conn, &[payment]).await?;
    Ok(booked.into_iter().next().flatten())
}

/// Books several payments in one round trip, each kind of row in one statement for the whole
/// set (the database takes the creators' locks in key order first, so concurrent batches never
/// deadlock). Returns, per payment and in order, its id when it was new: a payment booked before,
/// or earlier in `payments`, gets `None`. Must run inside a transaction.
pub async fn book_payments(
    conn: &mut AsyncPgConnection,
    payments: &[&NewPayment],
) -> Result<Vec<Option<PaymentId>>, Error> {
    let bookings = payments
        .iter()
        .map(|p| booking(p))
        .collect::<Result<Vec<_>, _>>()?;
    // A query built with the DSL is prepared once per connection; raw SQL would be parsed and
    // planned on every call.
    diesel::select(payments_book_many(serde_json::Value::Array(bookings)))
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// The stored state of a payment that refunds and disputes change.
#[derive(Clone, Debug, diesel::Queryable)]
pub struct PaymentState {
    /// Our id.
    pub id: PaymentId,
    /// What it was.
    pub kind: String,
    /// Who paid.
    pub fan_id: UserId,
    /// Who earned.
    pub creator_id: CreatorId,
    /// PPV item, if any.
    pub ppv_item_id: Option<PpvItemId>,
    /// Gross.
    pub gross: i64,
    /// Platform fee.
    pub platform_fee: i64,
    /// Creator's net.
    pub net: i64,
    /// Refunded so far.
    pub refunded: i64,
    /// Taken back from pending so far.
    pub pending_reversed: i64,
    /// ISO 4217.
    pub currency: String,
    /// When the hold ended, if it did.
    pub released_at: Option<DateTime<Utc>>,
}

impl PaymentState {
    /// The original split.
    pub fn split(&self) -> FeeSplit {
        FeeSplit {
            gross: self.gross,
            platform_fee: self.platform_fee,
            creator_net: self.net,
        }
    }

    /// What this payment still holds in the creator's pending balance.
    pub fn pending_share(&self) -> i64 {
        if self.released_at.is_some() {
            0
        } else {
            self.net - self.pending_reversed
        }
    }
}

/// Finds a payment by any of the provider's references, locking its row.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    charge: Option<&str>,
    payment_refs: &[&str],
) -> Result<Option<PaymentState>, Error> {
    let refs: Vec<String> = payment_refs
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| (*s).to_owned())
        .collect();
    // Charge ids are never empty, so an absent charge matches nothing.
    let charge = charge.unwrap_or_default().to_owned();
    Ok(payments::table
        .select((
            payments::id,
            payments::kind,
            payments::fan_id,
            payments::creator_id,
            payments::ppv_item_id,
            payments::gross_minor,
            payments::platform_fee_minor,
            payments::net_minor,
            payments::refunded_minor,
            payments::pending_reversed_minor,
            payments::currency,
            payments::released_at,
        ))
        .filter(
            payments::provider_charge_id
                .eq(charge)
                .or(payments::provider_payment_id.eq_any(refs)),
        )
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Applies a refund total reported by the provider (cumulative, so replays and reordering never
/// refund twice). Returns the fan whose access changed, if any.
pub async fn apply_refund_total(
    conn: &mut AsyncPgConnection,
    payment: &PaymentState,
    refunded_total: i64,
    at: DateTime<Utc>,
) -> Result<Option<UserId>, Error> {
    let refunded_total = refunded_total.min(payment.gross);
    let delta = refunded_total - payment.refunded;
    if delta <= 0 {
        return Ok(None);
    }
    ledger::lock_creator(conn, payment.creator_id).await?;
    let balances = ledger::creator_balances(conn, payment.creator_id, &payment.currency).await?;
    let reversal = payment.split().reversal(payment.refunded, delta);
    let debit = policy::refund(&balances, reversal, payment.pending_share());
    ledger::book(
        conn,
        &Transaction {
            kind: TransactionKind::Refund,
            creator_id: payment.creator_id,
            currency: payment.currency.clone(),
            reference: payment.id.to_string(),
            effect_key: format!("refund:{}:{refunded_total}", payment.id),
            occurred_at: at,
            postings: debit.postings,
        },
    )
    .await?;
    let fully = refunded_total >= payment.gross;
    diesel::update(payments::table.find(payment.id))
        .set((
            payments::refunded_minor.eq(refunded_total),
            payments::pending_reversed_minor.eq(payment.pending_reversed + debit.from_pending),
        ))
        .execute(conn)
        .await?;
    diesel::update(payment_details::table.find(payment.id))
        .set(payment_details::status.eq(if fully {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        }))
        .execute(conn)
        .await?;
    if fully && payment.kind == Kind::Ppv.as_str() {
        revoke_ppv(conn, payment.id, at).await?;
        return Ok(Some(payment.fan_id));
    }
    Ok(None)
}

/// Ends the PPV access a payment bought (full refund, dispute).
pub async fn revoke_ppv(
    conn: &mut AsyncPgConnection,
    payment_id: PaymentId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::update(ppv_purchases::table.filter(ppv_purchases::payment_id.eq(payment_id)))
        .set(ppv_purchases::revoked_at.eq(Some(at)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Restores PPV access after a dispute was won.
pub async fn restore_ppv(conn: &mut AsyncPgConnection, payment_id: PaymentId) -> Result<(), Error> {
    diesel::update(ppv_purchases::table.filter(ppv_purchases::payment_id.eq(payment_id)))
        .set(ppv_purchases::revoked_at.eq(None::<DateTime<Utc>>))
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves every payment whose hold ended from pending to available. Returns how many.
pub async fn release_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, Error> {
    let due: Vec<(PaymentId, CreatorId, String, i64, i64)> = payments::table
        .filter(payments::released_at.is_null())
        .filter(payments::available_at.le(now))
        .select((
            payments::id,
            payments::creator_id,
            payments::currency,
            payments::net_minor,
            payments::pending_reversed_minor,
        ))
        .order(payments::available_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    for (id, creator_id, currency, net, reversed) in &due {
        ledger::lock_creator(conn, *creator_id).await?;
        let balances = ledger::creator_balances(conn, *creator_id, currency).await?;
        ledger::book(
            conn,
            &Transaction {
                kind: TransactionKind::Release,
                creator_id: *creator_id,
                currency: currency.clone(),
                reference: id.to_string(),
                effect_key: format!("release:{id}"),
                occurred_at: now,
                postings: policy::release(&balances, net - reversed),
            },
        )
        .await?;
        diesel::update(payments::table.find(id))
            .set(payments::released_at.eq(Some(now)))
            .execute(conn)
            .await?;
    }
    Ok(due.len())
}
