//! `POST /v1/auth/logout-all`: ends every session of the user, on every device.

use actix_web::{HttpResponse, web};

use super::cookies;
use crate::{
    auth::{AuthState, Authenticated},
    security::problem::ApiError,
    upstream::Identity,
};

/// Handler.
pub async fn handle(
    caller: Authenticated,
    identity: web::Data<Identity>,
    auth: web::Data<AuthState>,
) -> Result<HttpResponse, ApiError> {
    identity.logout_all(caller.token.clone()).await?;
    auth.forget(&caller.token);
    Ok(cookies::signed_out(auth.cookie_name()))
}
