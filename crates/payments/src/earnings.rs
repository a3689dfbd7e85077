//! Creator earnings: balances from the running totals and statement lines from the ledger.

use crate::ids::{PaymentId, TransactionId};
use chrono::{DateTime, Utc};
use df_common::Error;
use df_common::ids::CreatorId;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    ledger::{self, policy::CreatorBalances},
    schema::{ledger_entries, ledger_transactions, payments},
};

/// One statement line.
#[derive(Clone, Debug)]
pub struct Line {
    /// Ledger transaction.
    pub transaction_id: TransactionId,
    /// Its kind.
    pub kind: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Change of pending + available + receivable.
    pub amount: i64,
    /// The payment's gross, for payment lines.
    pub gross: i64,
    /// The payment's platform fee, for payment lines.
    pub platform_fee: i64,
    /// What caused it.
    pub reference: String,
}

/// Balances and the newest statement lines (at most `limit`).
pub async fn statement(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    currency: &str,
    limit: i64,
) -> Result<(CreatorBalances, Vec<Line>), Error> {
    let balances = ledger::creator_balances(conn, creator_id, currency).await?;
    let rows: Vec<(TransactionId, String, DateTime<Utc>, String, String, i64)> =
        ledger_entries::table
            .inner_join(ledger_transactions::table)
            .filter(ledger_entries::owner_id.eq(creator_id))
            .filter(ledger_entries::currency.eq(currency))
            .select((
                ledger_transactions::id,
                ledger_transactions::kind,
                ledger_transactions::occurred_at,
                ledger_transactions::reference,
                ledger_entries::account,
                ledger_entries::amount,
            ))
            .order((
                ledger_transactions::occurred_at.desc(),
                ledger_transactions::id.desc(),
            ))
            .limit(limit * 6)
            .load(conn)
            .await?;
    let mut lines: Vec<Line> = Vec::new();
    for (id, kind, at, reference, account, amount) in rows {
        let earning = matches!(
            account.as_str(),
            "creator_pending" | "creator_available" | "creator_receivable"
        );
        let delta = if earning && kind != "release" {
            amount
        } else {
            0
        };
        match lines.last_mut() {
            Some(line) if line.transaction_id == id => line.amount += delta,
            _ => {
                if lines.len() as i64 >= limit {
                    break;
                }
                lines.push(Line {
                    transaction_id: id,
                    kind,
                    at,
                    amount: delta,
                    gross: 0,
                    platform_fee: 0,
                    reference,
                })
            }
        }
    }
    let payment_ids: Vec<PaymentId> = lines
        .iter()
        .filter(|l| l.kind == "payment")
        .filter_map(|l| l.reference.parse().ok())
        .collect();
    let splits: Vec<(PaymentId, i64, i64)> = payments::table
        .filter(payments::id.eq_any(&payment_ids))
        .select((
            payments::id,
            payments::gross_minor,
            payments::platform_fee_minor,
        ))
        .load(conn)
        .await?;
    for line in &mut lines {
        if let Some((_, gross, fee)) = splits
            .iter()
            .find(|(id, _, _)| id.to_string() == line.reference)
        {
            line.gross = *gross;
            line.platform_fee = *fee;
        }
    }
    Ok((balances, lines))
}
