//! `POST /v1/auth/password-reset/request` and `/confirm`.

use actix_web::{HttpResponse, web};
use df_common::Secret;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Accepted, Email, NewPassword, OneTimeToken, PASSWORD_RULES};
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
pub struct ResetRequestBody {
    #[schema(value_type = Email)]
    email: String,
}

problems!(RequestPasswordResetProblems {
    400 [JSON_BODY, "common.field_too_long"]
        "`common.field_too_long`: the address is far beyond any valid length.",
});

/// Emails a reset link if the account exists; the answer is the same either way.
#[utoipa::path(
    post, path = "/v1/auth/password-reset/request", operation_id = "requestPasswordReset",
    tag = "auth",
    summary = "Ask for a password reset link",
    description = "Emails a password reset link (valid 30 minutes by default) when the address \
                   belongs to an account; earlier links stop working. The answer is the same \
                   202 either way, also for malformed addresses.",
    request_body(content = ResetRequestBody, example = json!({"email": "fan@example.com"})),
    responses(
        (status = 202, description = "Accepted.",
            body = Accepted, example = json!({"status": "accepted"})),
        RequestPasswordResetProblems, CsrfFailed, PayloadTooLarge, RateLimited, InternalError,
        Unavailable, Timeout,
    ),
)]
pub async fn request(
    identity: web::Data<Identity>,
    body: Json<ResetRequestBody>,
) -> Result<HttpResponse, ApiError> {
    identity
        .request_password_reset(body.into_inner().email)
        .await?;
    Ok(HttpResponse::Accepted().json(Accepted { status: "accepted" }))
}

/// A new password and the token of the reset email that allows it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordResetConfirm)]
pub struct ResetConfirmBody {
    #[schema(value_type = OneTimeToken)]
    token: Secret<String>,
    #[schema(value_type = NewPassword)]
    new_password: Secret<String>,
}

problems!(ConfirmPasswordResetProblems {
    400 [JSON_BODY, "identity.invalid_token", "common.field_too_long"]
        "`identity.invalid_token`: the link is unknown, used, expired or superseded; \
         `common.field_too_long`: the password is far beyond any valid length.",
    422 [PASSWORD_RULES]
        "The new password does not meet the password rules. The link stays usable.",
});

/// Sets the new password; every session of the account ends.
#[utoipa::path(
    post, path = "/v1/auth/password-reset/confirm", operation_id = "confirmPasswordReset",
    tag = "auth",
    summary = "Set a new password",
    description = "Sets a new password with the token of a reset email. Every session of the \
                   account ends, a login lock is lifted, and the email address counts as \
                   verified. A refused password leaves the link usable.",
    request_body(content = ResetConfirmBody, example = json!({
        "token": "q3Jx2c8n0WfM5kq1V7d4pZ0b9yH6sE2uT1rA8cL5oGw",
        "new_password": "violet-kettle-canyon-93-ember"
    })),
    responses(
        (status = 204, description = "The password is changed."),
        ConfirmPasswordResetProblems, CsrfFailed, PayloadTooLarge, RateLimited, InternalError,
        Unavailable, Timeout,
    ),
)]
pub async fn confirm(
    identity: web::Data<Identity>,
    body: Json<ResetConfirmBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    identity
        .confirm_password_reset(body.token, body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
