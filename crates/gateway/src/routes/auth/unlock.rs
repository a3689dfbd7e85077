//! `POST /v1/auth/unlock`: lifts a login lock with the emailed token.

use actix_web::{HttpResponse, web};
use df_common::Secret;
use serde::Deserialize;
use utoipa::ToSchema;

use super::OneTimeToken;
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
pub struct UnlockBody {
    #[schema(value_type = OneTimeToken)]
    token: Secret<String>,
}

problems!(UnlockLoginProblems {
    400 [JSON_BODY, "identity.invalid_token"]
        "`identity.invalid_token`: the link is unknown, used or expired.",
});

/// Handler.
#[utoipa::path(
    post, path = "/v1/auth/unlock", operation_id = "unlockLogin", tag = "auth",
    summary = "Unlock logins",
    description = "Lifts the login lock of an account with the token of the unlock email sent \
                   when the lock was set.",
    request_body(content = UnlockBody,
        example = json!({"token": "q3Jx2c8n0WfM5kq1V7d4pZ0b9yH6sE2uT1rA8cL5oGw"})),
    responses(
        (status = 204, description = "Logins are unlocked."),
        UnlockLoginProblems, CsrfFailed, PayloadTooLarge, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
)]
pub async fn handle(
    identity: web::Data<Identity>,
    body: Json<UnlockBody>,
) -> Result<HttpResponse, ApiError> {
    identity.unlock_login(body.into_inner().token).await?;
    Ok(HttpResponse::NoContent().finish())
}
