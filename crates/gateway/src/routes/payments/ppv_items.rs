//! Pay-per-view: `POST /v1/ppv-items/{id}/purchase` (a fan opens a checkout for a PPV item). A
//! creator offers a post for a one-off price by publishing it with visibility `ppv`: media
//! registers the item with payments for the post's own creator, so no item names a post its
//! creator does not own.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CheckoutView, checkout_created};
use crate::routes::openapi::{
    CsrfFailed, IDEMPOTENCY_KEY, INVALID_PATH, InternalError, JSON_BODY, PayloadTooLarge,
    ProviderUnavailable, RateLimited, Timeout, Unauthenticated, problems,
};
use crate::routes::wire::IdempotencyKey;
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

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
        JSON_BODY, INVALID_PATH, IDEMPOTENCY_KEY, "payments.invalid_url", "payments.own_item",
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
