//! Payouts: on a schedule, each creator's available balance above the minimum goes to their bank
//! through the provider. The money moves to "in transit" in the same transaction that creates
//! the payout row, so it cannot be paid twice; provider errors are retried with back-off and,
//! after the last attempt, the money returns to available and the payout is surfaced to admins.

use crate::ids::PayoutId;
use crate::status::PayoutStatus;
use chrono::{DateTime, Duration, Utc};
use df_common::Error;
use df_common::ids::CreatorId;
use df_proto::events::v1 as ev;
use df_runtime::bus::outbox;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, NullableExpressionMethods,
    OptionalExtension, QueryDsl,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{
    charges,
    ledger::{self, Transaction, TransactionKind, policy},
    provider::PayoutRequest,
    schema::{creator_balances, payout_accounts, payouts},
    service::{SERVICE, Service},
};

/// What a payout run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Payments whose hold ended.
    pub released: u32,
    /// New payouts started.
    pub started: u32,
    /// Earlier payouts retried.
    pub retried: u32,
}

/// Releases held earnings, then pays out every eligible balance and retries failed calls.
pub async fn run(service: &Service) -> Result<RunReport, Error> {
    let now = service.clock.now();
    let mut report = RunReport::default();
    let mut conn = service.db.conn().await?;
    loop {
        let released = conn
            .transaction::<usize, Error, _>(async move |conn| {
                charges::release_due(conn, now, 500).await
            })
            .await?;
        report.released += u32::try_from(released).unwrap_or(u32::MAX);
        if released < 500 {
            break;
        }
    }
    let eligible: Vec<(CreatorId, String, String, i64)> = creator_balances::table
        .inner_join(
            payout_accounts::table.on(payout_accounts::creator_id.eq(creator_balances::owner_id)),
        )
        .filter(creator_balances::account.eq(ledger::Account::CreatorAvailable.as_str()))
        .filter(creator_balances::balance.ge(service.policy.payout_minimum_minor))
        .filter(payout_accounts::payouts_enabled.eq(true))
        .select((
            creator_balances::owner_id,
            creator_balances::currency,
            payout_accounts::provider_account_id,
            creator_balances::balance,
        ))
        .load(&mut conn)
        .await?;
    for (creator_id, currency, account, _) in eligible {
        if let Some(payout_id) = start(&mut conn, service, creator_id, &currency, now).await? {
            report.started += 1;
            attempt(service, payout_id, &account).await?;
        }
    }
    let due: Vec<(PayoutId, String)> = payouts::table
        .inner_join(payout_accounts::table.on(payout_accounts::creator_id.eq(payouts::creator_id)))
        .filter(payouts::status.eq(PayoutStatus::Pending))
        .filter(payouts::next_attempt_at.le(now))
        .select((payouts::id, payout_accounts::provider_account_id))
        .load(&mut conn)
        .await?;
    for (payout_id, account) in due {
        report.retried += 1;
        attempt(service, payout_id, &account).await?;
    }
    Ok(report)
}

/// Creates a payout of the whole available balance, moving it to in-transit. `None` when the
/// balance is below the minimum or a payout is already open.
async fn start(
    conn: &mut AsyncPgConnection,
    service: &Service,
    creator_id: CreatorId,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<Option<PayoutId>, Error> {
    let minimum = service.policy.payout_minimum_minor;
    let currency = currency.to_owned();
    conn.transaction::<Option<PayoutId>, Error, _>(async move |conn| {
        ledger::lock_creator(conn, creator_id).await?;
        let open: i64 = payouts::table
            .filter(payouts::creator_id.eq(creator_id))
            .filter(payouts::currency.eq(&currency))
            .filter(payouts::status.eq_any([PayoutStatus::Pending, PayoutStatus::InTransit]))
            .count()
            .get_result(conn)
            .await?;
        if open > 0 {
            return Ok(None);
        }
        let balances = ledger::creator_balances(conn, creator_id, &currency).await?;
        if balances.available < minimum {
            return Ok(None);
        }
        let amount = balances.available;
        let Some(postings) = policy::payout_started(&balances, amount) else {
            return Ok(None);
        };
        let id = PayoutId::new();
        diesel::insert_into(payouts::table)
            .values((
                payouts::id.eq(id),
                payouts::creator_id.eq(creator_id),
                payouts::amount_minor.eq(amount),
                payouts::currency.eq(&currency),
                payouts::status.eq(PayoutStatus::Pending),
                payouts::next_attempt_at.eq(Some(now)),
            ))
            .execute(conn)
            .await?;
        ledger::book(
            conn,
            &Transaction {
                kind: TransactionKind::PayoutStarted,
                creator_id,
                currency: currency.clone(),
                reference: id.to_string(),
                effect_key: format!("payout:{id}:started"),
                occurred_at: now,
                postings,
            },
        )
        .await?;
        Ok(Some(id))
    })
    .await
}

/// Calls the provider for a pending payout and records the outcome.
async fn attempt(service: &Service, payout_id: PayoutId, account: &str) -> Result<(), Error> {
    let mut conn = service.db.conn().await?;
    let row: Option<(CreatorId, i64, String, i32, PayoutStatus)> = payouts::table
        .find(payout_id)
        .filter(payouts::status.eq(PayoutStatus::Pending))
        .select((
            payouts::creator_id,
            payouts::amount_minor,
            payouts::currency,
            payouts::attempts,
            payouts::status,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((creator_id, amount, currency, attempts, _)) = row else {
        return Ok(());
    };
    let request = PayoutRequest {
        payout_id,
        account: account.to_owned(),
        amount,
        currency: currency.clone(),
    };
    let now = service.clock.now();
    match service.provider.create_payout(&request).await {
        Ok(provider_id) => {
            diesel::update(payouts::table.find(payout_id))
                .set((
                    payouts::status.eq(PayoutStatus::InTransit),
                    payouts::provider_payout_id.eq(Some(provider_id)),
                    payouts::attempts.eq(attempts + 1),
                    payouts::next_attempt_at.eq(None::<DateTime<Utc>>),
                    payouts::updated_at.eq(now),
                ))
                .filter(payouts::status.eq(PayoutStatus::Pending))
                .execute(&mut conn)
                .await?;
        }
        Err(error) => {
            error.log();
            let attempts = attempts + 1;
            let max = i32::try_from(service.policy.payout_max_attempts).unwrap_or(5);
            let code = error.code().to_owned();
            if attempts >= max {
                give_up(
                    &mut conn, payout_id, creator_id, amount, &currency, &code, now,
                )
                .await?;
                service.relay.notify();
            } else {
                let base = i64::from(service.policy.payout_retry_base_minutes);
                let delay = Duration::minutes(base.saturating_mul(1 << (attempts - 1).min(10)));
                diesel::update(payouts::table.find(payout_id))
                    .set((
                        payouts::attempts.eq(attempts),
                        payouts::next_attempt_at.eq(Some(now + delay)),
                        payouts::failure_code.eq(Some(code)),
                        payouts::updated_at.eq(now),
                    ))
                    .execute(&mut conn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The last attempt failed: the money returns to available and admins are told.
async fn give_up(
    conn: &mut AsyncPgConnection,
    payout_id: PayoutId,
    creator_id: CreatorId,
    amount: i64,
    currency: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (currency, code) = (currency.to_owned(), code.to_owned());
    conn.transaction::<(), Error, _>(async move |conn| {
        settle(conn, payout_id, creator_id, amount, &currency, false, now).await?;
        diesel::update(payouts::table.find(payout_id))
            .set((
                payouts::status.eq(PayoutStatus::NeedsAttention),
                payouts::attempts.eq(payouts::attempts + 1),
                payouts::failure_code.eq(Some(&code)),
                payouts::next_attempt_at.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
        outbox::enqueue(
            conn,
            SERVICE,
            &ev::PayoutNeedsAttention {
                payout_id: payout_id.to_string(),
                creator_id: creator_id.to_string(),
                amount,
                currency: currency.clone(),
                failure_code: code.clone(),
            },
        )
        .await?;
        Ok(())
    })
    .await
}

/// Books the end of a payout: paid out, or back to the creator's available balance.
async fn settle(
    conn: &mut AsyncPgConnection,
    payout_id: PayoutId,
    creator_id: CreatorId,
    amount: i64,
    currency: &str,
    paid: bool,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    ledger::lock_creator(conn, creator_id).await?;
    let balances = ledger::creator_balances(conn, creator_id, currency).await?;
    let (kind, postings, suffix) = if paid {
        (
            TransactionKind::PayoutPaid,
            policy::payout_paid(amount),
            "paid",
        )
    } else {
        (
            TransactionKind::PayoutFailed,
            policy::payout_failed(&balances, amount),
            "failed",
        )
    };
    ledger::book(
        conn,
        &Transaction {
            kind,
            creator_id,
            currency: currency.to_owned(),
            reference: payout_id.to_string(),
            effect_key: format!("payout:{payout_id}:{suffix}"),
            occurred_at: at,
            postings,
        },
    )
    .await?;
    Ok(())
}

/// A `payout.paid` or `payout.failed` event. Payouts never move back from paid or failed.
pub async fn on_provider_result(
    conn: &mut AsyncPgConnection,
    provider_payout_id: &str,
    our_id: Option<PayoutId>,
    paid: bool,
    failure_code: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let row: Option<(PayoutId, CreatorId, i64, String, PayoutStatus)> = payouts::table
        .select((
            payouts::id,
            payouts::creator_id,
            payouts::amount_minor,
            payouts::currency,
            payouts::status,
        ))
        .filter(
            payouts::provider_payout_id
                .eq(provider_payout_id.to_owned())
                .or(payouts::id.nullable().eq(our_id)),
        )
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some((id, creator_id, amount, currency, status)) = row else {
        return Ok(false);
    };
    if !matches!(status, PayoutStatus::Pending | PayoutStatus::InTransit) {
        return Ok(true);
    }
    settle(conn, id, creator_id, amount, &currency, paid, at).await?;
    diesel::update(payouts::table.find(id))
        .set((
            payouts::status.eq(if paid {
                PayoutStatus::Paid
            } else {
                PayoutStatus::Failed
            }),
            payouts::provider_payout_id.eq(Some(provider_payout_id)),
            payouts::failure_code.eq(failure_code),
            payouts::updated_at.eq(at),
        ))
        .execute(conn)
        .await?;
    Ok(true)
}

/// The statuses of payouts that need an admin.
pub const FAILED: &[PayoutStatus] = &[PayoutStatus::Failed, PayoutStatus::NeedsAttention];

/// Most payouts one listing returns.
const LIST_LIMIT: i64 = 200;

/// A payout as creators and admins see it.
#[derive(Clone, Debug, diesel::Queryable)]
pub struct PayoutView {
    /// Our id.
    pub id: PayoutId,
    /// Who is paid.
    pub creator_id: CreatorId,
    /// Amount.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// Where it stands.
    pub status: PayoutStatus,
    /// Provider calls made.
    pub attempts: i32,
    /// The provider's last failure.
    pub failure_code: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Next retry, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The latest payouts, newest first, of one creator or all, optionally of some statuses.
pub async fn list(
    conn: &mut AsyncPgConnection,
    creator_id: Option<CreatorId>,
    statuses: Option<&[PayoutStatus]>,
) -> Result<Vec<PayoutView>, Error> {
    let mut query = payouts::table
        .select((
            payouts::id,
            payouts::creator_id,
            payouts::amount_minor,
            payouts::currency,
            payouts::status,
            payouts::attempts,
            payouts::failure_code,
            payouts::created_at,
            payouts::next_attempt_at,
        ))
        .order(payouts::created_at.desc())
        .limit(LIST_LIMIT)
        .into_boxed();
    if let Some(creator_id) = creator_id {
        query = query.filter(payouts::creator_id.eq(creator_id));
    }
    if let Some(statuses) = statuses {
        query = query.filter(payouts::status.eq_any(statuses.to_vec()));
    }
    Ok(query.load(conn).await?)
}
