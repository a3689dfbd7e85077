//! Admin views of payments: `GET /v1/admin/disputes`, `GET /v1/admin/payouts/failed` and
//! `POST /v1/admin/payouts/run`. Payments refuses callers without the admin role.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};

use super::{Money, Page, PayoutView, instant, money};
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Query of `disputes`.
#[derive(Debug, Deserialize)]
pub struct DisputesQuery {
    /// `needs_response`, `under_review`, `won` or `lost`; every dispute when left out.
    #[serde(default)]
    status: Option<String>,
}

/// A dispute (chargeback).
#[derive(Debug, Serialize)]
pub struct DisputeView {
    /// Id.
    pub id: String,
    /// The disputed payment.
    pub payment_id: String,
    /// The creator paid.
    pub creator_id: String,
    /// The fan who paid.
    pub fan_id: String,
    /// Disputed amount.
    pub amount: Money,
    /// `needs_response`, `under_review`, `won` or `lost`.
    pub status: String,
    /// Evidence is due by then.
    pub evidence_due_by: Option<String>,
    /// When evidence was submitted.
    pub evidence_submitted_at: Option<String>,
}

impl From<pb::Dispute> for DisputeView {
    fn from(dispute: pb::Dispute) -> Self {
        Self {
            amount: money(dispute.amount),
            evidence_due_by: instant(dispute.evidence_due_by.as_ref()),
            evidence_submitted_at: instant(dispute.evidence_submitted_at.as_ref()),
            id: dispute.id,
            payment_id: dispute.payment_id,
            creator_id: dispute.creator_id,
            fan_id: dispute.fan_id,
            status: dispute.status,
        }
    }
}

/// What a payout run did.
#[derive(Debug, Serialize)]
pub struct PayoutRunView {
    /// Held earnings released to the available balance.
    pub released: u32,
    /// Payouts started.
    pub payouts_started: u32,
    /// Failed payouts tried again.
    pub retried: u32,
}

/// Disputes, newest first.
pub async fn disputes(
    caller: Authenticated,
    payments: web::Data<Payments>,
    query: web::Query<DisputesQuery>,
) -> Result<HttpResponse, ApiError> {
    let answer = payments
        .list_disputes(
            (&caller).into(),
            pb::ListDisputesRequest {
                status: query.into_inner().status.unwrap_or_default(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(
        answer.disputes.into_iter().map(DisputeView::from),
    )))
}

/// Payouts that failed or need attention.
pub async fn failed_payouts(
    caller: Authenticated,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, ApiError> {
    let answer = payments
        .list_failed_payouts((&caller).into(), pb::ListFailedPayoutsRequest {})
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(
        answer.payouts.into_iter().map(PayoutView::from),
    )))
}

/// Releases held earnings and pays out eligible balances now.
pub async fn run_payouts(
    caller: Authenticated,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, ApiError> {
    let report = payments
        .run_payouts((&caller).into(), pb::RunPayoutsRequest {})
        .await?;
    Ok(HttpResponse::Ok().json(PayoutRunView {
        released: report.released,
        payouts_started: report.payouts_started,
        retried: report.retried,
    }))
}
