//! `POST /v1/auth/unlock`: lifts a login lock with the emailed token.

use actix_web::{HttpResponse, web};
use df_common::Secret;
use serde::Deserialize;

use crate::security::Json;
use crate::{security::problem::ApiError, upstream::Identity};

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockBody {
    token: Secret<String>,
}

/// Handler.
pub async fn handle(
    identity: web::Data<Identity>,
    body: Json<UnlockBody>,
) -> Result<HttpResponse, ApiError> {
    identity.unlock_login(body.into_inner().token).await?;
    Ok(HttpResponse::NoContent().finish())
}
