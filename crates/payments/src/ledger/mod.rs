//! The double-entry ledger. Every business effect that moves money is one transaction of signed
//! entries (credit positive) that sums to zero per currency; transactions are only ever appended,
//! and each carries an effect key so the same effect can never be booked twice.

pub mod integrity;
pub mod policy;

use crate::ids::TransactionId;
use chrono::{DateTime, Utc};
use df_common::Error;
use df_common::ids::CreatorId;
use diesel::{ExpressionMethods, QueryDsl, sql_types};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::creator_balances;

/// The ledger's accounts. Creator accounts, the dispute reserve and payouts are kept per
/// creator; the others are the platform's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    /// Money received from fans (the processor's clearing account).
    FanPayments,
    /// Creator earnings still on hold.
    CreatorPending,
    /// Creator earnings that can be paid out.
    CreatorAvailable,
    /// What a creator owes after refunds or disputes exceeded their balances (≤ 0).
    CreatorReceivable,
    /// The platform's fees.
    PlatformRevenue,
    /// The processor's fees, paid by the platform.
    ProcessorFees,
    /// Money returned to fans.
    Refunds,
    /// Funds held while a dispute is open.
    DisputeReserve,
    /// Disputes lost.
    DisputeLosses,
    /// Payouts started but not yet confirmed.
    PayoutsInTransit,
    /// Payouts the bank confirmed.
    PaidOut,
}

impl Account {
    /// Every account.
    pub const ALL: [Account; 11] = [
        Account::FanPayments,
        Account::CreatorPending,
        Account::CreatorAvailable,
        Account::CreatorReceivable,
        Account::PlatformRevenue,
        Account::ProcessorFees,
        Account::Refunds,
        Account::DisputeReserve,
        Account::DisputeLosses,
        Account::PayoutsInTransit,
        Account::PaidOut,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Account::FanPayments => "fan_payments",
            Account::CreatorPending => "creator_pending",
            Account::CreatorAvailable => "creator_available",
            Account::CreatorReceivable => "creator_receivable",
            Account::PlatformRevenue => "platform_revenue",
            Account::ProcessorFees => "processor_fees",
            Account::Refunds => "refunds",
            Account::DisputeReserve => "dispute_reserve",
            Account::DisputeLosses => "dispute_losses",
            Account::PayoutsInTransit => "payouts_in_transit",
            Account::PaidOut => "paid_out",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// True for accounts kept per creator.
    pub fn is_per_creator(self) -> bool {
        matches!(
            self,
            Account::CreatorPending
                | Account::CreatorAvailable
                | Account::CreatorReceivable
                | Account::DisputeReserve
                | Account::PayoutsInTransit
                | Account::PaidOut
        )
    }
}

/// One line of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    /// The account.
    pub account: Account,
    /// Signed amount in minor units, credit positive.
    pub amount: i64,
}

impl Posting {
    /// A posting.
    pub fn new(account: Account, amount: i64) -> Self {
        Self { account, amount }
    }
}

/// What a transaction records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionKind {
    /// A captured payment: gross, platform fee, processor fee, creator net.
    Payment,
    /// A hold ended: pending → available.
    Release,
    /// Money returned to a fan.
    Refund,
    /// Dispute opened: funds into the reserve.
    DisputeOpened,
    /// Dispute won: reserve released to the creator.
    DisputeWon,
    /// Dispute lost: reserve booked as a loss.
    DisputeLost,
    /// Payout started.
    PayoutStarted,
    /// Payout confirmed by the bank.
    PayoutPaid,
    /// Payout failed: money back to available.
    PayoutFailed,
}

impl TransactionKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Payment => "payment",
            TransactionKind::Release => "release",
            TransactionKind::Refund => "refund",
            TransactionKind::DisputeOpened => "dispute_opened",
            TransactionKind::DisputeWon => "dispute_won",
            TransactionKind::DisputeLost => "dispute_lost",
            TransactionKind::PayoutStarted => "payout_started",
            TransactionKind::PayoutPaid => "payout_paid",
            TransactionKind::PayoutFailed => "payout_failed",
        }
    }
}

/// A balanced set of postings in one currency, for one creator.
#[derive(Clone, Debug)]
pub struct Transaction {
    /// What it records.
    pub kind: TransactionKind,
    /// The creator whose per-creator accounts it touches.
    pub creator_id: CreatorId,
    /// ISO 4217, lower case.
    pub currency: String,
    /// What caused it (payment id, payout id, ...).
    pub reference: String,
    /// Unique per business effect.
    pub effect_key: String,
    /// When the effect happened.
    pub occurred_at: DateTime<Utc>,
    /// The lines; zero amounts are dropped when booking.
    pub postings: Vec<Posting>,
}

impl Transaction {
    /// True when the postings sum to zero.
    pub fn is_balanced(&self) -> bool {
        self.postings
            .iter()
            .try_fold(0_i64, |sum, p| sum.checked_add(p.amount))
            == Some(0)
    }
}

/// The advisory lock key of a creator (the database's `ledger_lock_key` computes the same).
/// The low half of a UUIDv7 is random; the high half is mostly the creation time, which would
/// put creators created together behind one lock.
pub fn lock_key(creator_id: CreatorId) -> i64 {
    creator_id.as_uuid().as_u64_pair().1.cast_signed()
}

/// Serializes every balance-changing step of one creator within the current database
/// transaction, so two concurrent debits can never both spend the same balance. Steps that
/// read balances before booking take it first; [`book`] takes it too (it is re-entrant).
pub async fn lock_creator(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
) -> Result<(), Error> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(lock_key(creator_id))
        .execute(conn)
        .await
        .map_err(Error::internal)?;
    Ok(())
}

/// Balances of one creator's accounts in one currency.
pub async fn creator_balances(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    currency: &str,
) -> Result<policy::CreatorBalances, Error> {
    let rows: Vec<(String, i64)> = creator_balances::table
        .filter(creator_balances::owner_id.eq(creator_id))
        .filter(creator_balances::currency.eq(currency))
        .select((creator_balances::account, creator_balances::balance))
        .load(conn)
        .await
        .map_err(Error::internal)?;
    let mut balances = policy::CreatorBalances::default();
    for (account, balance) in rows {
        match Account::parse(&account) {
            Some(Account::CreatorPending) => balances.pending = balance,
            Some(Account::CreatorAvailable) => balances.available = balance,
            Some(Account::CreatorReceivable) => balances.receivable = balance,
            Some(Account::DisputeReserve) => balances.dispute_reserve = balance,
            Some(Account::PayoutsInTransit) => balances.in_transit = balance,
            Some(Account::PaidOut) => balances.paid_out = balance,
            _ => {}
        }
    }
    Ok(balances)
}

/// Appends `transaction` unless its effect was booked before. Returns whether it was booked.
///
/// Must run inside a database transaction; the database refuses to commit one that does not
/// balance.
pub async fn book(conn: &mut AsyncPgConnection, transaction: &Transaction) -> Result<bool, Error> {
    if !transaction.is_balanced() {
        return Err(Error::internal(anyhow::anyhow!(
            "unbalanced {} transaction for {}",
            transaction.kind.as_str(),
            transaction.reference
        )));
    }
    let postings: Vec<Posting> = transaction
        .postings
        .iter()
        .copied()
        .filter(|p| p.amount != 0)
        .collect();
    // Nothing moves (a release of a fully refunded payment): nothing to record.
    if postings.is_empty() {
        return Ok(false);
    }
    let booking = serde_json::json!([{
        "id": TransactionId::new(),
        "kind": transaction.kind.as_str(),
        "reference": transaction.reference,
        "effect_key": transaction.effect_key,
        "occurred_at": transaction.occurred_at,
        "creator_id": transaction.creator_id,
        "currency": transaction.currency,
        "postings": postings_json(&postings),
    }]);
    // One call books the header, the entries and the running balances under the creator's
    // lock; the same database function books the postings of captured payments, set-wise.
    let booked: Vec<bool> = diesel::select(ledger_book_many(booking))
        .get_result(conn)
        .await
        .map_err(Error::internal)?;
    Ok(booked.as_slice() == [true])
}

diesel::define_sql_function! {
    /// Books an array of ledger transactions (migration `000006_one_posting_writer`); per
    /// transaction, whether its effect was new.
    fn ledger_book_many(p: sql_types::Jsonb) -> sql_types::Array<sql_types::Bool>;
}

/// `postings` as `ledger_book_many` reads them.
pub(crate) fn postings_json(postings: &[Posting]) -> serde_json::Value {
    postings
        .iter()
        .map(|p| {
            serde_json::json!({
                "account": p.account.as_str(),
                "amount": p.amount,
                "per_creator": p.account.is_per_creator(),
            })
        })
        .collect()
}
