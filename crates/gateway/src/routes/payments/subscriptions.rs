//! A fan's subscriptions: `POST /v1/subscriptions` (opens a checkout),
//! `POST /v1/subscriptions/{id}/cancel` and `GET /v1/me/subscriptions`.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{IdempotencyKey, Page, checkout_created, instant, required_instant};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Request body of `subscribe`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeBody {
    tier_id: Uuid,
    success_url: String,
    cancel_url: String,
}

/// A subscription as its fan sees it.
#[derive(Debug, Serialize)]
pub struct SubscriptionView {
    /// Id.
    pub id: String,
    /// The creator subscribed to.
    pub creator_id: String,
    /// The tier.
    pub tier_id: String,
    /// `incomplete`, `trialing`, `active`, `past_due`, `canceled` or `ended`.
    pub status: String,
    /// Ends when the paid period does.
    pub cancel_at_period_end: bool,
    /// End of the current (paid or trial) period (RFC 3339).
    pub current_period_end: String,
    /// Access lasts until then (the period end, or the end of the grace period when past
    /// due); `null` when there is no access.
    pub access_until: Option<String>,
}

impl From<pb::Subscription> for SubscriptionView {
    fn from(subscription: pb::Subscription) -> Self {
        Self {
            current_period_end: required_instant(subscription.current_period_end.as_ref()),
            access_until: instant(subscription.access_until.as_ref()),
            id: subscription.id,
            creator_id: subscription.creator_id,
            tier_id: subscription.tier_id,
            status: subscription.status,
            cancel_at_period_end: subscription.cancel_at_period_end,
        }
    }
}

/// Opens a subscription checkout for a tier.
pub async fn subscribe(
    caller: Authenticated,
    payments: web::Data<Payments>,
    idempotency: IdempotencyKey,
    body: Json<SubscribeBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let checkout = payments
        .subscribe(
            (&caller).into(),
            pb::SubscribeRequest {
                tier_id: body.tier_id.to_string(),
                success_url: body.success_url,
                cancel_url: body.cancel_url,
                idempotency_key: idempotency.0,
            },
        )
        .await?;
    Ok(checkout_created(checkout))
}

/// Cancels one of the caller's subscriptions at the end of its paid period.
pub async fn cancel(
    caller: Authenticated,
    payments: web::Data<Payments>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let subscription = payments
        .cancel_subscription(
            (&caller).into(),
            pb::CancelSubscriptionRequest {
                subscription_id: id.into_inner().to_string(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(SubscriptionView::from(subscription)))
}

/// The caller's subscriptions.
pub async fn list_mine(
    caller: Authenticated,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, ApiError> {
    let answer = payments
        .list_my_subscriptions((&caller).into(), pb::ListMySubscriptionsRequest {})
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(
        answer.subscriptions.into_iter().map(SubscriptionView::from),
    )))
}
