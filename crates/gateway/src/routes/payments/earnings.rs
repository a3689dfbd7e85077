//! `GET /v1/creator/earnings` and `GET /v1/creator/payouts`: the signed-in creator's balances,
//! statement and payouts.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::PayoutView;
use crate::routes::openapi::{
    Forbidden, INVALID_QUERY, InternalError, RateLimited, Timeout, Unauthenticated, Unavailable,
    named_schema, one_of, problems,
};
use crate::routes::wire::{Money, Page, amount, page_schema, required_instant};
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Query of `earnings`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EarningsQuery {
    /// Lower-case ISO 4217; `usd` when left out.
    #[serde(default)]
    #[param(nullable = false, default = "usd")]
    currency: Option<String>,
}

/// A ledger transaction that touched the creator's balances.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StatementLine)]
pub struct StatementLineView {
    /// The ledger transaction.
    #[schema(format = Uuid)]
    pub transaction_id: String,
    #[schema(value_type = StatementLineKind)]
    pub kind: String,
    /// When (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub at: String,
    /// Change of the creator's pending, available and receivable balances (negative when money
    /// leaves them).
    pub amount: Money,
    /// What the fan paid, on payment lines; zero on others.
    pub gross: Money,
    /// The platform's fee, on payment lines; zero on others.
    pub platform_fee: Money,
    /// What caused it (a payment, refund, dispute or payout id).
    pub reference: String,
}

named_schema!(
    /// What a statement line records.
    StatementLineKind = one_of(
        &[
            "payment",
            "release",
            "refund",
            "dispute_opened",
            "dispute_won",
            "dispute_lost",
            "payout_started",
            "payout_paid",
            "payout_failed",
        ],
        "What happened to the creator's balances.",
    )
);

/// The creator's balances in one currency and the newest statement lines (at most 200, newest
/// first).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Earnings, examples(json!({
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "currency": "usd",
    "pending": {"amount_minor": 7662, "currency": "usd"},
    "available": {"amount_minor": 12480, "currency": "usd"},
    "in_transit": {"amount_minor": 0, "currency": "usd"},
    "paid_out": {"amount_minor": 48310, "currency": "usd"},
    "dispute_reserve": {"amount_minor": 0, "currency": "usd"},
    "receivable": {"amount_minor": 0, "currency": "usd"},
    "lines": [{
        "transaction_id": "0193a5d6-a0b1-7c23-d4e5-f60718293a4b",
        "kind": "payment",
        "at": "2026-11-20T09:15:00Z",
        "amount": {"amount_minor": 770, "currency": "usd"},
        "gross": {"amount_minor": 999, "currency": "usd"},
        "platform_fee": {"amount_minor": 200, "currency": "usd"},
        "reference": "0193a5d7-b1c2-7d34-e5f6-0718293a4b5c"
    }]
})))]
pub struct EarningsView {
    /// The creator.
    #[schema(format = Uuid)]
    pub creator_id: String,
    /// The currency of every amount.
    pub currency: String,
    /// Earned, still held before it can be paid out.
    pub pending: Money,
    /// Payable at the next payout.
    pub available: Money,
    /// On its way to the bank.
    pub in_transit: Money,
    /// Paid out so far.
    pub paid_out: Money,
    /// Held back against open disputes.
    pub dispute_reserve: Money,
    /// Owed by the creator after refunds or lost disputes exceeded their balances; taken from
    /// future earnings.
    pub receivable: Money,
    pub lines: Vec<StatementLineView>,
}

page_schema!(PayoutList = Page<PayoutView>, "Payouts, newest first.");

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

problems!(GetEarningsProblems {
    400 [INVALID_QUERY, "payments.unsupported_currency"]
        "`payments.unsupported_currency`: the currency is not supported.",
});

/// The signed-in creator's balances and statement.
#[utoipa::path(
    get, path = "/v1/creator/earnings", operation_id = "getEarnings", tag = "creator",
    summary = "Earnings",
    description = "The signed-in user's balances in one currency and the newest statement \
                   lines.",
    params(EarningsQuery),
    responses(
        (status = 200, body = EarningsView, description = "The earnings."),
        GetEarningsProblems, Unauthenticated, Forbidden, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
#[utoipa::path(
    get, path = "/v1/creator/payouts", operation_id = "listPayouts", tag = "creator",
    summary = "Payouts",
    description = "The signed-in user's payouts, newest first (at most 200).",
    responses(
        (status = 200, body = PayoutList, description = "The payouts."),
        Unauthenticated, Forbidden, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
