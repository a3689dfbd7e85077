//! `POST /v1/auth/verify-email`: consumes the token from the verification email.

use actix_web::{HttpResponse, web};
use df_common::Secret;
use serde::Deserialize;

use super::Accepted;
use crate::security::Json;
use crate::{security::problem::ApiError, upstream::Identity};

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailBody {
    token: Secret<String>,
}

/// Handler.
pub async fn handle(
    identity: web::Data<Identity>,
    body: Json<VerifyEmailBody>,
) -> Result<HttpResponse, ApiError> {
    identity.verify_email(body.into_inner().token).await?;
    Ok(HttpResponse::Ok().json(Accepted { status: "verified" }))
}
