//! `POST /v1/auth/logout`: ends this session and clears the cookies.

use actix_web::{HttpResponse, web};

use super::cookies;
use crate::routes::openapi::{
    CsrfFailed, InternalError, RateLimited, Timeout, Unauthenticated, Unavailable,
};
use crate::{
    auth::{AuthState, Authenticated},
    security::problem::ApiError,
    upstream::Identity,
};

/// Handler.
#[utoipa::path(
    post, path = "/v1/auth/logout", operation_id = "logout", tag = "auth",
    summary = "Log out",
    description = "Ends the session that authenticates this request and deletes the session \
                   cookies. Other sessions of the user stay open.",
    responses(
        (status = 204, description = "Logged out.",
            headers(("Set-Cookie" = String, description = "Deletes `__Host-df_session` and \
                `__Host-df_csrf` (empty values, `Max-Age=0`)."))),
        Unauthenticated, CsrfFailed, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn handle(
    caller: Authenticated,
    identity: web::Data<Identity>,
    auth: web::Data<AuthState>,
) -> Result<HttpResponse, ApiError> {
    identity.logout(caller.token.clone()).await?;
    auth.forget(&caller.token);
    Ok(cookies::signed_out(auth.cookie_name()))
}
