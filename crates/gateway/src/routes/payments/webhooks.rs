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

use crate::{security::problem::ApiError, upstream::Payments};

/// Largest event body accepted; the provider's events are far smaller.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The provider's signature header.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// The answer to an accepted delivery.
#[derive(Debug, Serialize)]
pub struct WebhookReceived {
    /// Always `true`.
    pub received: bool,
    /// `applied`, `duplicate` (delivered before) or `ignored` (a type payments does not use).
    pub outcome: String,
}

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
