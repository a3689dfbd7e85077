//! Pay-per-view: `POST /v1/creator/ppv-items` (a creator offers a post for a one-off price) and
//! `POST /v1/ppv-items/{id}/purchase` (a fan opens a checkout for it).

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CheckoutView, checkout_created};
use crate::routes::openapi::{
    CsrfFailed, ForbiddenOrCsrf, INVALID_PATH, InternalError, JSON_BODY, PayloadTooLarge,
    ProviderUnavailable, RateLimited, Timeout, Unauthenticated, Unavailable, problems,
};
use crate::routes::wire::{IdempotencyKey, Money, money};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// A post to offer for a one-off price.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PpvItemRequest)]
pub struct PpvItemBody {
    /// The post it unlocks. A post is offered at most once (`payments.ppv_exists`).
    post_id: Uuid,
    /// The one-off price.
    price: Money,
    /// Shown on the payment page (`payments.invalid_title` when empty or too long).
    #[schema(min_length = 1)]
    title: String,
}

/// A post offered for a one-off price.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PpvItem, examples(json!({
    "id": "0193a5d2-6c7d-7e8f-a091-b2c3d4e5f607",
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "post_id": "0193a5d1-4b5c-7d6e-9f70-8a9b0c1d2e3f",
    "price": {"amount_minor": 1500, "currency": "usd"},
    "title": "Behind the scenes, part 2"
})))]
pub struct PpvItemView {
    /// Id.
    #[schema(format = Uuid)]
    pub id: String,
    /// The creator.
    #[schema(format = Uuid)]
    pub creator_id: String,
    /// The post it unlocks.
    #[schema(format = Uuid)]
    pub post_id: String,
    pub price: Money,
    pub title: String,
}

problems!(CreatePpvItemProblems {
    400 [
        JSON_BODY, "payments.invalid_title", "payments.invalid_amount",
        "payments.unsupported_currency",
    ]
        "`payments.invalid_title`: the title is empty or too long; `payments.invalid_amount`: \
         the price is not positive or too large; `payments.unsupported_currency`: the currency \
         is not supported.",
    409 ["payments.ppv_exists"]
        "`payments.ppv_exists`: the post is offered already.",
});

impl From<pb::PpvItem> for PpvItemView {
    fn from(item: pb::PpvItem) -> Self {
        Self {
            price: money(item.price),
            id: item.id,
            creator_id: item.creator_id,
            post_id: item.post_id,
            title: item.title,
        }
    }
}

/// Offers one of the signed-in creator's posts for a one-off price.
#[utoipa::path(
    post, path = "/v1/creator/ppv-items", operation_id = "createPpvItem", tag = "creator",
    summary = "Offer a post for a one-off price",
    description = "Makes one of the signed-in creator's posts purchasable on its own \
                   (pay-per-view). A subscription does not unlock PPV items. Creators only.",
    request_body(content = PpvItemBody, example = json!({
        "post_id": "0193a5d1-4b5c-7d6e-9f70-8a9b0c1d2e3f",
        "price": {"amount_minor": 1500, "currency": "usd"},
        "title": "Behind the scenes, part 2"
    })),
    responses(
        (status = 201, body = PpvItemView, description = "The PPV item."),
        CreatePpvItemProblems, Unauthenticated, ForbiddenOrCsrf, PayloadTooLarge, RateLimited,
        InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn create(
    caller: Authenticated,
    payments: web::Data<Payments>,
    body: Json<PpvItemBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let item = payments
        .create_ppv_item(
            (&caller).into(),
            pb::PpvItemInput {
                post_id: body.post_id.to_string(),
                price: Some(body.price.into()),
                title: body.title,
                creator_id: String::new(),
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(PpvItemView::from(item)))
}

/// Where the provider sends the fan back from the payment page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CheckoutReturnRequest)]
pub struct PurchaseBody {
    /// Where the provider sends the fan after paying (http or https).
    #[schema(format = "uri", max_length = 2048)]
    success_url: String,
    /// Where the provider sends the fan after abandoning the payment.
    #[schema(format = "uri", max_length = 2048)]
    cancel_url: String,
}

problems!(PurchasePpvItemProblems {
    400 [
        JSON_BODY, INVALID_PATH, "payments.invalid_url", "payments.own_item",
        "payments.return_url_not_allowed",
    ]
        "`payments.invalid_url`: `success_url` or `cancel_url` is not an http(s) URL of at most \
         2048 characters; `payments.own_item`: creators cannot buy their own items; \
         `payments.return_url_not_allowed`: a return URL points outside the platform's own \
         apps.",
    404 ["payments.ppv_not_found"]
        "No such PPV item.",
    409 [
        "payments.already_bought", "payments.creator_not_payable",
        "payments.idempotency_key_reused", "payments.checkout_in_progress",
    ]
        "`payments.already_bought`: the caller owns the item already; \
         `payments.creator_not_payable`: the creator cannot receive payments yet (no completed \
         onboarding); `payments.idempotency_key_reused`: the `Idempotency-Key` was used before \
         for a different request; `payments.checkout_in_progress`: the first request with this \
         `Idempotency-Key` is still being processed; retry shortly.",
    422 ["payments.provider_rejected"]
        "The payment provider refused the request.",
});

/// Opens a checkout for a PPV item.
#[utoipa::path(
    post, path = "/v1/ppv-items/{id}/purchase", operation_id = "purchasePpvItem",
    tag = "checkout",
    summary = "Buy a PPV item",
    description = "Opens a checkout for a PPV item. Once the provider reports the payment, the \
                   entitlement with `ppv_item_id` answers `allowed`.",
    params(("id" = Uuid, Path, description = "The PPV item."), IdempotencyKey),
    request_body(content = PurchaseBody, example = json!({
        "success_url": "https://app.directfanz.io/paid",
        "cancel_url": "https://app.directfanz.io/cancelled"
    })),
    responses(
        (status = 201, body = CheckoutView,
            description = "The checkout: send the fan to `checkout_url`."),
        PurchasePpvItemProblems, Unauthenticated, CsrfFailed, PayloadTooLarge, RateLimited,
        InternalError, ProviderUnavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn purchase(
    caller: Authenticated,
    payments: web::Data<Payments>,
    id: web::Path<Uuid>,
    idempotency: IdempotencyKey,
    body: Json<PurchaseBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let checkout = payments
        .buy_ppv(
            (&caller).into(),
            pb::BuyPpvRequest {
                ppv_item_id: id.into_inner().to_string(),
                success_url: body.success_url,
                cancel_url: body.cancel_url,
                idempotency_key: idempotency.0,
            },
        )
        .await?;
    Ok(checkout_created(checkout))
}
