//! A fan's subscriptions: `POST /v1/subscriptions` (opens a checkout),
//! `POST /v1/subscriptions/{id}/cancel` and `GET /v1/me/subscriptions`.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CheckoutView, checkout_created};
use crate::routes::openapi::{
    CsrfFailed, IDEMPOTENCY_KEY, INVALID_PATH, InternalError, JSON_BODY, PayloadTooLarge,
    ProviderUnavailable, RateLimited, Timeout, Unauthenticated, Unavailable, named_schema, one_of,
    problems,
};
use crate::routes::wire::{IdempotencyKey, Page, instant, page_schema, required_instant};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// A tier to subscribe to, and where the provider sends the fan back from the payment page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SubscribeRequest)]
pub struct SubscribeBody {
    /// The tier to subscribe to.
    tier_id: Uuid,
    /// Where the provider sends the fan after paying (http or https).
    #[schema(format = "uri", max_length = 2048)]
    success_url: String,
    /// Where the provider sends the fan after abandoning the payment.
    #[schema(format = "uri", max_length = 2048)]
    cancel_url: String,
}

/// A subscription as its fan sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Subscription, examples(json!({
    "id": "0193a5d3-7d8e-7f90-a1b2-c3d4e5f60718",
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "tier_id": "0193a5d0-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
    "status": "active",
    "cancel_at_period_end": false,
    "current_period_end": "2026-12-20T09:15:00Z",
    "access_until": "2026-12-20T09:15:00Z"
})))]
pub struct SubscriptionView {
    /// Id.
    #[schema(format = Uuid)]
    pub id: String,
    /// The creator subscribed to.
    #[schema(format = Uuid)]
    pub creator_id: String,
    /// The tier.
    #[schema(format = Uuid)]
    pub tier_id: String,
    #[schema(value_type = SubscriptionStatus)]
    pub status: String,
    /// Cancelled: it ends when the paid period does.
    pub cancel_at_period_end: bool,
    /// End of the current paid (or trial) period (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub current_period_end: String,
    /// Access lasts until then: the period end, or the end of the grace period while a renewal
    /// is past due; `null` when there is no access.
    #[schema(required, format = DateTime)]
    pub access_until: Option<String>,
}

named_schema!(
    /// The states of a subscription.
    SubscriptionStatus = one_of(
        &["incomplete", "trialing", "active", "past_due", "canceled", "ended"],
        "Where a subscription stands.",
    )
);

page_schema!(
    SubscriptionList = Page<SubscriptionView>,
    "The caller's subscriptions, current and past."
);

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

problems!(SubscribeProblems {
    400 [
        JSON_BODY, IDEMPOTENCY_KEY, "payments.invalid_url", "payments.own_tier",
        "payments.return_url_not_allowed",
    ]
        "`payments.invalid_url`: `success_url` or `cancel_url` is not an http(s) URL of at most \
         2048 characters; `payments.own_tier`: creators cannot subscribe to themselves; \
         `payments.return_url_not_allowed`: a return URL points outside the platform's own \
         apps.",
    404 ["payments.tier_not_found"]
        "No such tier, or it is archived.",
    409 [
        "payments.already_subscribed", "payments.tier_full", "payments.creator_not_payable",
        "payments.idempotency_key_reused", "payments.checkout_in_progress",
    ]
        "`payments.already_subscribed`: the caller subscribes to this creator already; \
         `payments.tier_full`: the tier reached its subscriber cap; \
         `payments.creator_not_payable`: the creator cannot receive payments yet (no completed \
         onboarding); `payments.idempotency_key_reused`: the `Idempotency-Key` was used before \
         for a different request; `payments.checkout_in_progress`: the first request with this \
         `Idempotency-Key` is still being processed; retry shortly.",
    422 ["payments.provider_rejected"]
        "The payment provider refused the request.",
});

/// Opens a subscription checkout for a tier.
#[utoipa::path(
    post, path = "/v1/subscriptions", operation_id = "subscribe", tag = "checkout",
    summary = "Subscribe to a tier",
    description = "Opens a subscription checkout for a tier. Once the provider reports the first \
                   payment (or the start of a trial), the entitlement answers `allowed` and the \
                   subscription shows in `GET /v1/me/subscriptions`.",
    params(IdempotencyKey),
    request_body(content = SubscribeBody, example = json!({
        "tier_id": "0193a5d0-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        "success_url": "https://app.directfanz.io/paid",
        "cancel_url": "https://app.directfanz.io/cancelled"
    })),
    responses(
        (status = 201, body = CheckoutView,
            description = "The checkout: send the fan to `checkout_url`."),
        SubscribeProblems, Unauthenticated, CsrfFailed, PayloadTooLarge, RateLimited,
        InternalError, ProviderUnavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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

problems!(CancelSubscriptionProblems {
    400 [INVALID_PATH] "",
    404 ["payments.subscription_not_found", "payments.provider_not_found"]
        "No such subscription of the caller's; `payments.provider_not_found`: the payment \
         provider no longer knows the subscription.",
    409 ["payments.subscription_not_active"]
        "`payments.subscription_not_active`: the subscription has ended or is not paid yet.",
});

/// Cancels one of the caller's subscriptions at the end of its paid period.
#[utoipa::path(
    post, path = "/v1/subscriptions/{id}/cancel", operation_id = "cancelSubscription",
    tag = "subscriptions",
    summary = "Cancel a subscription",
    description = "Cancels one of the caller's subscriptions at the end of the paid period; \
                   access lasts until then.",
    params(("id" = Uuid, Path, description = "The subscription.")),
    responses(
        (status = 200, body = SubscriptionView,
            description = "The subscription, with `cancel_at_period_end` set."),
        CancelSubscriptionProblems, Unauthenticated, CsrfFailed, RateLimited, InternalError,
        ProviderUnavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
#[utoipa::path(
    get, path = "/v1/me/subscriptions", operation_id = "listMySubscriptions",
    tag = "subscriptions",
    summary = "The caller's subscriptions",
    description = "The signed-in user's subscriptions, current and past.",
    responses(
        (status = 200, body = SubscriptionList, description = "The subscriptions."),
        Unauthenticated, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
