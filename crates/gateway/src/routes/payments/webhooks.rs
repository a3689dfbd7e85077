//! `POST /v1/webhooks/stripe`: the payment provider's events. The body is read raw (the
//! signature covers its exact bytes) and handed with the `Stripe-Signature` header to payments,
//! which verifies, records and applies it; the gateway parses nothing.
//!
//! The answer tells the provider whether to deliver again: 2xx once payments took the event
//! (also a duplicate), 4xx for a delivery that can never succeed (bad signature, malformed),
//! and 5xx while payments is unavailable, so the provider retries later.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use df_common::{Error, ErrorKind};
use futures::StreamExt as _;
use serde::Serialize;
use utoipa::ToSchema;

use crate::routes::openapi::{InternalError, RateLimited, Timeout, named_schema, one_of, problems};
use crate::{security::problem::ApiError, upstream::Payments};

/// Largest event body accepted; the provider's events are far smaller.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The provider's signature header.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// The answer to an accepted delivery.
#[derive(Debug, Serialize, ToSchema)]
#[schema(examples(json!({"received": true, "outcome": "applied"})))]
pub struct WebhookReceived {
    /// Always `true`.
    pub received: bool,
    /// `duplicate`: delivered before and applied then; `ignored`: a type payments does not use.
    #[schema(value_type = WebhookOutcome)]
    pub outcome: String,
}

named_schema!(
    /// What payments did with an event.
    WebhookOutcome = one_of(&["applied", "duplicate", "ignored"], "What became of the event.")
);

/// A Stripe event, exactly as Stripe sends it. The gateway does not parse it: the raw bytes and
/// the `Stripe-Signature` header go to payments, which verifies the signature over those exact
/// bytes before reading anything.
#[derive(ToSchema)]
pub struct StripeEvent {
    /// `evt_...`; deliveries of the same event are applied once.
    pub id: String,
    pub r#type: String,
    pub created: i64,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

problems!(ReceiveStripeWebhookProblems {
    400 [
        "gateway.webhook_signature_missing", "payments.webhook_signature_invalid",
        "payments.webhook_timestamp_outside_tolerance", "payments.webhook_malformed",
        "payments.webhook_too_large", "payments.webhook_unattributed",
        "payments.webhook_unknown_tier", "common.invalid_body",
    ]
        "A delivery that can never succeed; the provider gives up on it. \
         `gateway.webhook_signature_missing`: no `Stripe-Signature` header; \
         `payments.webhook_signature_invalid`: the signature does not match the body under any \
         configured secret; `payments.webhook_timestamp_outside_tolerance`: signed too long ago \
         (replay protection); `payments.webhook_malformed`: not an event; \
         `payments.webhook_too_large`: the signature header is too long; \
         `payments.webhook_unattributed`, `payments.webhook_unknown_tier`: the event refers to \
         nothing payments knows; `common.invalid_body`: the body could not be read.",
    413 ["common.payload_too_large"]
        "The body is larger than 256 KiB.",
    503 [
        "common.unavailable", "payments.webhook_out_of_order", "payments.provider_unavailable",
        "payments.fee_unknown", "payments.shutting_down",
    ]
        "Payments cannot take the event now: it is down (`common.unavailable`), the event came \
         before one it depends on (`payments.webhook_out_of_order`), or a lookup at the \
         provider failed. The provider delivers it again later; `payments.shutting_down`: the \
         service is restarting; the provider delivers the event again.",
});

fn too_large() -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        "common.payload_too_large",
        format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
    )
}

/// Reads the whole body, refusing it as soon as it grows past the limit.
async fn read_body(request: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, Error> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            Error::invalid_input("common.invalid_body", "The request body could not be read.")
                .with_cause(anyhow::anyhow!("webhook body: {e}"))
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Handler.
#[utoipa::path(
    post, path = "/v1/webhooks/stripe", operation_id = "receiveStripeWebhook", tag = "webhooks",
    summary = "Stripe webhook",
    description = "The endpoint Stripe delivers events to. It takes no session and no CSRF \
                   token: each delivery is authenticated by its `Stripe-Signature`, which \
                   payments checks over the raw body (so the body must reach it byte for byte). \
                   Rate-limited in its own `webhook` class. Answers 2xx once payments took the \
                   event, 4xx for deliveries that can never succeed and 5xx while payments \
                   cannot take it, so Stripe retries exactly the deliveries worth retrying.",
    params(("Stripe-Signature" = String, Header, max_length = 2048,
        description = "Stripe's signature of the body: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. \
                       Missing: 400 `gateway.webhook_signature_missing`.")),
    request_body(content = StripeEvent, example = json!({
        "id": "evt_1Q2w3E4r5T6y7U8i",
        "object": "event",
        "type": "invoice.paid",
        "created": 1795000000,
        "data": {"object": {"id": "in_1Q2w3E4r5T6y7U8i", "object": "invoice"}}
    })),
    responses(
        (status = 200, body = WebhookReceived,
            description = "Payments took the event (applied now, applied before, or of a type it \
                           does not use). The provider stops delivering it."),
        ReceiveStripeWebhookProblems, RateLimited, InternalError, Timeout,
    ),
)]
pub async fn stripe(
    request: HttpRequest,
    payload: web::Payload,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, ApiError> {
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::invalid_input(
                "gateway.webhook_signature_missing",
                "The Stripe-Signature header is missing.",
            )
        })?;
    let body = read_body(&request, payload).await?;
    let answer = payments.ingest_webhook(body, signature).await?;
    Ok(HttpResponse::Ok().json(WebhookReceived {
        received: true,
        outcome: answer.outcome,
    }))
}
