//! `POST /v1/auth/logout`: ends this session and clears the cookies.

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
    identity.logout(caller.token.clone()).await?;
    auth.forget(&caller.token);
    Ok(cookies::signed_out(auth.cookie_name()))
}
