//! `POST /v1/tips`: a fan opens a checkout to tip a creator.

use actix_web::{HttpResponse, web};
use df_common::ids::CreatorId;
use df_proto::payments::v1 as pb;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{CheckoutView, checkout_created};
use crate::routes::openapi::{
    CsrfFailed, IDEMPOTENCY_KEY, InternalError, JSON_BODY, PayloadTooLarge, ProviderUnavailable,
    RateLimited, Timeout, Unauthenticated, problems,
};
use crate::routes::wire::{IdempotencyKey, Money};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// A tip, and where the provider sends the fan back from the payment page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TipRequest)]
pub struct TipBody {
    /// The creator to tip.
    #[schema(value_type = Uuid)]
    creator_id: CreatorId,
    /// The tip.
    amount: Money,
    /// Shown to the creator; `null` or absent for none. Payments limits its length
    /// (`payments.tip_message_too_long`).
    #[serde(default)]
    message: Option<String>,
    /// Where the provider sends the fan after paying (http or https).
    #[schema(format = "uri", max_length = 2048)]
    success_url: String,
    /// Where the provider sends the fan after abandoning the payment.
    #[schema(format = "uri", max_length = 2048)]
    cancel_url: String,
}

problems!(TipProblems {
    400 [
        JSON_BODY, IDEMPOTENCY_KEY, "payments.invalid_url", "payments.own_tip", "payments.tip_message_too_long",
        "payments.invalid_amount", "payments.unsupported_currency",
        "payments.return_url_not_allowed",
    ]
        "`payments.invalid_url`: `success_url` or `cancel_url` is not an http(s) URL of at most \
         2048 characters; `payments.own_tip`: creators cannot tip themselves; \
         `payments.tip_message_too_long`: the message is longer than 500 characters; \
         `payments.invalid_amount`: the amount is not positive or too large; \
         `payments.unsupported_currency`: the currency is not supported; \
         `payments.return_url_not_allowed`: a return URL points outside the platform's own \
         apps.",
    409 [
        "payments.creator_not_payable", "payments.idempotency_key_reused",
        "payments.checkout_in_progress",
    ]
        "The creator is unknown or `payments.creator_not_payable`: the creator cannot receive \
         payments yet (no completed onboarding); `payments.idempotency_key_reused`: the \
         `Idempotency-Key` was used before for a different request; \
         `payments.checkout_in_progress`: the first request with this `Idempotency-Key` is \
         still being processed; retry shortly.",
    422 ["payments.provider_rejected"]
        "The payment provider refused the request.",
});

/// Handler.
#[utoipa::path(
    post, path = "/v1/tips", operation_id = "tip", tag = "checkout",
    summary = "Tip a creator",
    description = "Opens a checkout for a tip. Once the provider reports the payment, it shows \
                   in the creator's earnings.",
    params(IdempotencyKey),
    request_body(content = TipBody, example = json!({
        "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
        "amount": {"amount_minor": 500, "currency": "usd"},
        "message": "Thanks for the tutorials!",
        "success_url": "https://app.directfanz.io/paid",
        "cancel_url": "https://app.directfanz.io/cancelled"
    })),
    responses(
        (status = 201, body = CheckoutView,
            description = "The checkout: send the fan to `checkout_url`."),
        TipProblems, Unauthenticated, CsrfFailed, PayloadTooLarge, RateLimited, InternalError,
        ProviderUnavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn tip(
    caller: Authenticated,
    payments: web::Data<Payments>,
    idempotency: IdempotencyKey,
    body: Json<TipBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let checkout = payments
        .tip(
            (&caller).into(),
            pb::TipRequest {
                creator_id: body.creator_id.to_string(),
                amount: Some(body.amount.into()),
                message: body.message.unwrap_or_default(),
                success_url: body.success_url,
                cancel_url: body.cancel_url,
                idempotency_key: idempotency.0,
            },
        )
        .await?;
    Ok(checkout_created(checkout))
}
