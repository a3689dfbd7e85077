//! Disputes (chargebacks): opening moves the disputed amount and the fee from the creator into
//! the reserve; a win releases it, a loss books it as one. Fans who dispute repeatedly are
//! flagged through an event.

use crate::ids::{DisputeId, PaymentId};
use crate::status::{DisputeStatus, PaymentStatus};
use chrono::{DateTime, Utc};
use df_common::Error;
use df_common::ids::{CreatorId, UserId};
use df_proto::events::v1 as ev;
use df_runtime::bus::outbox;
use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    charges::{self, PaymentState},
    ledger::{self, Transaction, TransactionKind, policy},
    schema::{disputes, payment_details, payments},
    service::SERVICE,
};

/// A dispute as reported by the provider.
#[derive(Clone, Debug)]
pub struct Reported {
    /// `dp_...`.
    pub provider_dispute_id: String,
    /// Disputed amount.
    pub amount: i64,
    /// The processor's dispute fee.
    pub fee: i64,
    /// Provider status (`needs_response`, `warning_needs_response`, `under_review`, `won`,
    /// `lost`, `warning_closed`, ...).
    pub status: String,
    /// Reason given by the bank.
    pub reason: String,
    /// When evidence is due.
    pub evidence_due_by: Option<DateTime<Utc>>,
}

/// Our status for a provider status.
pub fn status_from_provider(status: &str) -> DisputeStatus {
    match status {
        "won" | "warning_closed" => DisputeStatus::Won,
        "lost" => DisputeStatus::Lost,
        "under_review" | "warning_under_review" => DisputeStatus::UnderReview,
        _ => DisputeStatus::NeedsResponse,
    }
}

/// Opens the dispute unless it is known. Returns the fans whose access changed.
pub async fn open(
    conn: &mut AsyncPgConnection,
    payment: &PaymentState,
    reported: &Reported,
    at: DateTime<Utc>,
    flag_threshold: u32,
) -> Result<Vec<UserId>, Error> {
    let id = DisputeId::new();
    let inserted: Option<DisputeId> = diesel::insert_into(disputes::table)
        .values((
            disputes::id.eq(id),
            disputes::provider_dispute_id.eq(&reported.provider_dispute_id),
            disputes::payment_id.eq(payment.id),
            disputes::fan_id.eq(payment.fan_id),
            disputes::creator_id.eq(payment.creator_id),
            disputes::amount_minor.eq(reported.amount.max(1)),
            disputes::fee_minor.eq(reported.fee.max(0)),
            disputes::currency.eq(&payment.currency),
            disputes::status.eq(DisputeStatus::NeedsResponse),
            disputes::reason.eq(&reported.reason),
            disputes::evidence_due_by.eq(reported.evidence_due_by),
        ))
        .on_conflict(disputes::provider_dispute_id)
        .do_nothing()
        .returning(disputes::id)
        .get_result(conn)
        .await
        .optional()?;
    if inserted.is_none() {
        return Ok(Vec::new());
    }
    let held = reported.amount.max(1) + reported.fee.max(0);
    ledger::lock_creator(conn, payment.creator_id).await?;
    let balances = ledger::creator_balances(conn, payment.creator_id, &payment.currency).await?;
    let debit = policy::dispute_opened(&balances, held, payment.pending_share());
    ledger::book(
        conn,
        &Transaction {
            kind: TransactionKind::DisputeOpened,
            creator_id: payment.creator_id,
            currency: payment.currency.clone(),
            reference: id.to_string(),
            effect_key: format!("dispute:{}:opened", reported.provider_dispute_id),
            occurred_at: at,
            postings: debit.postings,
        },
    )
    .await?;
    diesel::update(payments::table.find(payment.id))
        .set(payments::pending_reversed_minor.eq(payment.pending_reversed + debit.from_pending))
        .execute(conn)
        .await?;
    diesel::update(payment_details::table.find(payment.id))
        .set(payment_details::status.eq(PaymentStatus::Disputed))
        .execute(conn)
        .await?;
    charges::revoke_ppv(conn, payment.id, at).await?;
    let count: i64 = disputes::table
        .filter(disputes::fan_id.eq(payment.fan_id))
        .count()
        .get_result(conn)
        .await?;
    if count == i64::from(flag_threshold) {
        outbox::enqueue(
            conn,
            SERVICE,
            &ev::FanDisputeFlagged {
                fan_id: payment.fan_id.to_string(),
                disputes: u32::try_from(count).unwrap_or(u32::MAX),
                flagged_at: Some(df_common::wire::timestamp(at)),
            },
        )
        .await?;
    }
    Ok(vec![payment.fan_id])
}

/// Applies a status change; settles the reserve once when the dispute closes.
pub async fn update(
    conn: &mut AsyncPgConnection,
    payment: &PaymentState,
    reported: &Reported,
    at: DateTime<Utc>,
) -> Result<Vec<UserId>, Error> {
    let row: Option<(DisputeId, DisputeStatus, i64, i64)> = disputes::table
        .filter(disputes::provider_dispute_id.eq(&reported.provider_dispute_id))
        .select((
            disputes::id,
            disputes::status,
            disputes::amount_minor,
            disputes::fee_minor,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some((id, current, amount, fee)) = row else {
        return Err(crate::service::out_of_order("dispute"));
    };
    if matches!(current, DisputeStatus::Won | DisputeStatus::Lost) {
        return Ok(Vec::new());
    }
    let status = status_from_provider(&reported.status);
    diesel::update(disputes::table.find(id))
        .set((
            disputes::status.eq(status),
            disputes::evidence_due_by.eq(reported.evidence_due_by),
            disputes::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    if !matches!(status, DisputeStatus::Won | DisputeStatus::Lost) {
        return Ok(Vec::new());
    }
    let held = amount + fee;
    ledger::lock_creator(conn, payment.creator_id).await?;
    let balances = ledger::creator_balances(conn, payment.creator_id, &payment.currency).await?;
    let (kind, postings) = if status == DisputeStatus::Won {
        (
            TransactionKind::DisputeWon,
            policy::dispute_won(&balances, held),
        )
    } else {
        (
            TransactionKind::DisputeLost,
            policy::dispute_lost(&balances, held),
        )
    };
    ledger::book(
        conn,
        &Transaction {
            kind,
            creator_id: payment.creator_id,
            currency: payment.currency.clone(),
            reference: id.to_string(),
            effect_key: format!("dispute:{}:closed", reported.provider_dispute_id),
            occurred_at: at,
            postings,
        },
    )
    .await?;
    if status == DisputeStatus::Won && payment.refunded < payment.gross {
        charges::restore_ppv(conn, payment.id).await?;
        return Ok(vec![payment.fan_id]);
    }
    Ok(Vec::new())
}

/// Open disputes whose evidence is due within `lead`, not yet submitted.
pub async fn due_for_evidence(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    lead: chrono::Duration,
) -> Result<Vec<(DisputeId, String, PaymentId)>, Error> {
    Ok(disputes::table
        .filter(disputes::status.eq(DisputeStatus::NeedsResponse))
        .filter(disputes::evidence_submitted_at.is_null())
        .filter(
            disputes::evidence_due_by
                .le(now + lead)
                .or(disputes::evidence_due_by.is_null()),
        )
        .select((
            disputes::id,
            disputes::provider_dispute_id,
            disputes::payment_id,
        ))
        .limit(100)
        .load(conn)
        .await?)
}

/// Records that evidence was submitted.
pub async fn evidence_submitted(
    conn: &mut AsyncPgConnection,
    id: DisputeId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::update(disputes::table.find(id))
        .set((
            disputes::evidence_submitted_at.eq(Some(at)),
            disputes::status.eq(DisputeStatus::UnderReview),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A dispute as admins see it.
#[derive(Clone, Debug, diesel::Queryable)]
pub struct DisputeView {
    /// Our id.
    pub id: DisputeId,
    /// The disputed payment.
    pub payment_id: PaymentId,
    /// Whose earnings it holds back.
    pub creator_id: CreatorId,
    /// Who disputed.
    pub fan_id: UserId,
    /// Disputed amount.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Where it stands.
    pub status: DisputeStatus,
    /// When the evidence is due.
    pub evidence_due_by: Option<DateTime<Utc>>,
    /// When it was submitted.
    pub evidence_submitted_at: Option<DateTime<Utc>>,
}

/// The latest disputes, newest first, optionally of one status.
pub async fn list(
    conn: &mut AsyncPgConnection,
    status: Option<DisputeStatus>,
) -> Result<Vec<DisputeView>, Error> {
    let mut query = disputes::table
        .select((
            disputes::id,
            disputes::payment_id,
            disputes::creator_id,
            disputes::fan_id,
            disputes::amount_minor,
            disputes::currency,
            disputes::status,
            disputes::evidence_due_by,
            disputes::evidence_submitted_at,
        ))
        .order(disputes::created_at.desc())
        .limit(LIST_LIMIT)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(disputes::status.eq(status));
    }
    Ok(query.load(conn).await?)
}

/// Most disputes one listing returns.
const LIST_LIMIT: i64 = 500;
