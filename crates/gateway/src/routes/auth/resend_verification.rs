//! `POST /v1/auth/resend-verification`: a new link if the account exists and is unverified;
//! the answer is the same either way.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::Accepted;
use crate::security::Json;
use crate::{security::problem::ApiError, upstream::Identity};

/// Request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendBody {
    email: String,
}

/// Handler.
pub async fn handle(
    identity: web::Data<Identity>,
    body: Json<ResendBody>,
) -> Result<HttpResponse, ApiError> {
    identity
        .resend_verification(body.into_inner().email)
        .await?;
    Ok(HttpResponse::Accepted().json(Accepted { status: "accepted" }))
}
