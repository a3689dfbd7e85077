//! `GET /v1/creator/earnings` and `GET /v1/creator/payouts`: the signed-in creator's balances,
//! statement and payouts.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};

use super::{Money, Page, PayoutView, amount, required_instant};
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Query of `earnings`.
#[derive(Debug, Deserialize)]
pub struct EarningsQuery {
    /// Lower-case ISO 4217; payments' default (`usd`) when left out.
    #[serde(default)]
    currency: Option<String>,
}

/// A line of the statement.
#[derive(Debug, Serialize)]
pub struct StatementLineView {
    /// The ledger transaction.
    pub transaction_id: String,
    /// What happened: `payment`, `release`, `refund`, `dispute_opened`, `dispute_won`,
    /// `dispute_lost`, `payout_started`, `payout_paid` or `payout_failed`.
    pub kind: String,
    /// When (RFC 3339).
    pub at: String,
    /// Change of the creator's pending and available balances.
    pub amount: Money,
    /// What the fan paid (payment lines; zero on others).
    pub gross: Money,
    /// The platform's fee (payment lines; zero on others).
    pub platform_fee: Money,
    /// The provider's reference.
    pub reference: String,
}

/// Balances in one currency and the latest statement lines.
#[derive(Debug, Serialize)]
pub struct EarningsView {
    /// The creator.
    pub creator_id: String,
    /// The currency of every amount.
    pub currency: String,
    /// Held, not yet payable.
    pub pending: Money,
    /// Payable.
    pub available: Money,
    /// On its way to the bank.
    pub in_transit: Money,
    /// Paid out so far.
    pub paid_out: Money,
    /// Held back against open disputes.
    pub dispute_reserve: Money,
    /// Owed by the creator after refunds or disputes exceeded their balances.
    pub receivable: Money,
    /// Newest first.
    pub lines: Vec<StatementLineView>,
}

impl From<pb::Earnings> for EarningsView {
    fn from(earnings: pb::Earnings) -> Self {
        let currency = earnings.currency;
        let lines = earnings
            .lines
            .into_iter()
            .map(|line| StatementLineView {
                at: required_instant(line.at.as_ref()),
                amount: amount(line.amount, &currency),
                gross: amount(line.gross, &currency),
                platform_fee: amount(line.platform_fee, &currency),
                transaction_id: line.transaction_id,
                kind: line.kind,
                reference: line.reference,
            })
            .collect();
        Self {
            creator_id: earnings.creator_id,
            pending: amount(earnings.pending, &currency),
            available: amount(earnings.available, &currency),
            in_transit: amount(earnings.in_transit, &currency),
            paid_out: amount(earnings.paid_out, &currency),
            dispute_reserve: amount(earnings.dispute_reserve, &currency),
            receivable: amount(earnings.receivable, &currency),
            lines,
            currency,
        }
    }
}

/// The signed-in creator's balances and statement.
pub async fn earnings(
    caller: Authenticated,
    payments: web::Data<Payments>,
    query: web::Query<EarningsQuery>,
) -> Result<HttpResponse, ApiError> {
    let earnings = payments
        .get_earnings(
            (&caller).into(),
            pb::GetEarningsRequest {
                creator_id: String::new(),
                currency: query.into_inner().currency.unwrap_or_default(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(EarningsView::from(earnings)))
}

/// The signed-in creator's payouts, newest first.
pub async fn payouts(
    caller: Authenticated,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, ApiError> {
    let answer = payments
        .list_payouts(
            (&caller).into(),
            pb::ListPayoutsRequest {
                creator_id: String::new(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(
        answer.payouts.into_iter().map(PayoutView::from),
    )))
}
