//! `POST /v1/auth/password-reset/request` and `/confirm`.

use actix_web::{HttpResponse, web};
use df_common::Secret;
use serde::Deserialize;

use super::Accepted;
use crate::security::Json;
use crate::{security::problem::ApiError, upstream::Identity};

/// Request body of `request`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    email: String,
}

/// Emails a reset link if the account exists; the answer is the same either way.
pub async fn request(
    identity: web::Data<Identity>,
    body: Json<ResetRequestBody>,
) -> Result<HttpResponse, ApiError> {
    identity
        .request_password_reset(body.into_inner().email)
        .await?;
    Ok(HttpResponse::Accepted().json(Accepted { status: "accepted" }))
}

/// Request body of `confirm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmBody {
    token: Secret<String>,
    new_password: Secret<String>,
}

/// Sets the new password; every session of the account ends.
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
