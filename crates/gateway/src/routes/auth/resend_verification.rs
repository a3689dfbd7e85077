//! `POST /v1/auth/resend-verification`: a new link if the account exists and is unverified;
//! the answer is the same either way.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Accepted, Email};
use crate::routes::openapi::{
    CsrfFailed, InternalError, JSON_BODY, PayloadTooLarge, RateLimited, Timeout, Unavailable,
    problems,
};
use crate::security::Json;
use crate::{security::problem::ApiError, upstream::Identity};

/// The address to email a link to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EmailRequest)]
pub struct ResendBody {
    #[schema(value_type = Email)]
    email: String,
}

problems!(ResendVerificationProblems {
    400 [JSON_BODY, "common.field_too_long"]
        "`common.field_too_long`: the address is far beyond any valid length.",
});

/// Handler.
#[utoipa::path(
    post, path = "/v1/auth/resend-verification", operation_id = "resendVerification",
    tag = "auth",
    summary = "Send a new verification link",
    description = "Emails a new verification link when the address belongs to an unverified \
                   account; earlier links stop working. The answer is the same 202 either way, \
                   also for malformed addresses.",
    request_body(content = ResendBody, example = json!({"email": "fan@example.com"})),
    responses(
        (status = 202, description = "Accepted.",
            body = Accepted, example = json!({"status": "accepted"})),
        ResendVerificationProblems, CsrfFailed, PayloadTooLarge, RateLimited, InternalError,
        Unavailable, Timeout,
    ),
)]
pub async fn handle(
    identity: web::Data<Identity>,
    body: Json<ResendBody>,
) -> Result<HttpResponse, ApiError> {
    identity
        .resend_verification(body.into_inner().email)
        .await?;
    Ok(HttpResponse::Accepted().json(Accepted { status: "accepted" }))
}
