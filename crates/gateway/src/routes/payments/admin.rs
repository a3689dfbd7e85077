//! Admin views of payments: `GET /v1/admin/disputes`, `GET /v1/admin/payouts/failed` and
//! `POST /v1/admin/payouts/run`. Payments refuses callers without the admin role.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PayoutView, earnings::PayoutList};
use crate::routes::openapi::{
    Forbidden, ForbiddenOrCsrf, INVALID_QUERY, InternalError, ProviderUnavailable, RateLimited,
    Timeout, Unauthenticated, Unavailable, named_schema, one_of, problems,
};
use crate::routes::wire::{Money, Page, instant, money, page_schema};
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Query of `disputes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisputesQuery {
    /// Only disputes in this state; every dispute when left out.
    #[serde(default)]
    #[param(value_type = Option<DisputeStatus>, nullable = false)]
    status: Option<String>,
}

/// A dispute (chargeback) of a payment.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Dispute, examples(json!({
    "id": "0193a5d8-c2d3-7e45-f607-18293a4b5c6d",
    "payment_id": "0193a5d7-b1c2-7d34-e5f6-0718293a4b5c",
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "fan_id": "0193a5b9-8c21-7f4e-9d3a-1b2c3d4e5f60",
    "amount": {"amount_minor": 999, "currency": "usd"},
    "status": "needs_response",
    "evidence_due_by": "2026-11-27T09:15:00Z",
    "evidence_submitted_at": null
})))]
pub struct DisputeView {
    /// Id.
    #[schema(format = Uuid)]
    pub id: String,
    /// The disputed payment.
    #[schema(format = Uuid)]
    pub payment_id: String,
    /// The creator paid.
    #[schema(format = Uuid)]
    pub creator_id: String,
    /// The fan who paid.
    #[schema(format = Uuid)]
    pub fan_id: String,
    pub amount: Money,
    #[schema(value_type = DisputeStatus)]
    pub status: String,
    /// The provider's deadline for evidence.
    #[schema(required, format = DateTime)]
    pub evidence_due_by: Option<String>,
    /// When evidence was submitted.
    #[schema(required, format = DateTime)]
    pub evidence_submitted_at: Option<String>,
}

named_schema!(
    /// The states of a dispute.
    DisputeStatus = one_of(
        &["needs_response", "under_review", "won", "lost"],
        "Where a dispute stands.",
    )
);

page_schema!(DisputeList = Page<DisputeView>, "Disputes, newest first (at most 500).");

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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PayoutRun, examples(json!({"released": 14, "payouts_started": 9, "retried": 1})))]
pub struct PayoutRunView {
    /// Held earnings released to the available balance.
    pub released: u32,
    /// Payouts started.
    pub payouts_started: u32,
    /// Failed payouts tried again.
    pub retried: u32,
}

problems!(ListDisputesProblems {
    400 [INVALID_QUERY, "payments.invalid_status"]
        "`payments.invalid_status`: `status` is not one of the dispute states.",
});

/// Disputes, newest first.
#[utoipa::path(
    get, path = "/v1/admin/disputes", operation_id = "listDisputes", tag = "admin",
    summary = "Disputes",
    description = "Disputes (chargebacks), newest first. Admins only.",
    params(DisputesQuery),
    responses(
        (status = 200, body = DisputeList, description = "The disputes."),
        ListDisputesProblems, Unauthenticated, Forbidden, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
#[utoipa::path(
    get, path = "/v1/admin/payouts/failed", operation_id = "listFailedPayouts", tag = "admin",
    summary = "Failed payouts",
    description = "Payouts that failed or need attention, newest first. Admins only.",
    responses(
        (status = 200, body = PayoutList, description = "The payouts."),
        Unauthenticated, Forbidden, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
#[utoipa::path(
    post, path = "/v1/admin/payouts/run", operation_id = "runPayouts", tag = "admin",
    summary = "Run payouts now",
    description = "Releases held earnings whose hold ended and pays out eligible balances now, \
                   instead of waiting for the schedule. Admins only.",
    responses(
        (status = 200, body = PayoutRunView, description = "What the run did."),
        Unauthenticated, ForbiddenOrCsrf, RateLimited, InternalError, ProviderUnavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
