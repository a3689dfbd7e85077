//! `POST /v1/auth/verify-email`: consumes the token from the verification email.

use actix_web::{HttpResponse, web};
use df_common::Secret;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Accepted, OneTimeToken};
use crate::routes::openapi::{
    CsrfFailed, InternalError, JSON_BODY, PayloadTooLarge, RateLimited, Timeout, Unavailable,
    problems,
};
use crate::security::Json;
use crate::{security::problem::ApiError, upstream::Identity};

/// The token of an emailed link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TokenRequest)]
pub struct VerifyEmailBody {
    #[schema(value_type = OneTimeToken)]
    token: Secret<String>,
}

problems!(VerifyEmailProblems {
    400 [JSON_BODY, "identity.invalid_token"]
        "`identity.invalid_token`: the link is unknown, used, expired or superseded.",
});

/// Handler.
#[utoipa::path(
    post, path = "/v1/auth/verify-email", operation_id = "verifyEmail", tag = "auth",
    summary = "Verify an email address",
    description = "Consumes the token of the verification email. Only the newest link works, \
                   and only once.",
    request_body(content = VerifyEmailBody,
        example = json!({"token": "q3Jx2c8n0WfM5kq1V7d4pZ0b9yH6sE2uT1rA8cL5oGw"})),
    responses(
        (status = 200, description = "The email address is verified.",
            body = Accepted, example = json!({"status": "verified"})),
        VerifyEmailProblems, CsrfFailed, PayloadTooLarge, RateLimited, InternalError,
        Unavailable, Timeout,
    ),
)]
pub async fn handle(
    identity: web::Data<Identity>,
    body: Json<VerifyEmailBody>,
) -> Result<HttpResponse, ApiError> {
    identity.verify_email(body.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(Accepted { status: "verified" }))
}
