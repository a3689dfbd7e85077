//! `POST /v1/auth/logout-all`: ends every session of the user, on every device.

use actix_web::{HttpResponse, web};

use super::cookies;
use crate::routes::openapi::{
    CsrfFailed, InternalError, RateLimited, Timeout, Unavailable, problems,
};
use crate::{
    auth::{AuthState, Authenticated},
    security::problem::ApiError,
    upstream::Identity,
};

problems!(LogoutAllProblems {
    401 ["gateway.unauthenticated", "identity.invalid_session"]
        "No valid session (`gateway.unauthenticated`), or it ended while the request was in \
         flight (`identity.invalid_session`).",
});

/// Handler.
#[utoipa::path(
    post, path = "/v1/auth/logout-all", operation_id = "logoutAll", tag = "auth",
    summary = "Log out everywhere",
    description = "Ends every session of the user, on every device, including this one, and \
                   deletes the session cookies.",
    responses(
        (status = 204, description = "Every session ended.",
            headers(("Set-Cookie" = String, description = "Deletes `__Host-df_session` and \
                `__Host-df_csrf` (empty values, `Max-Age=0`)."))),
        LogoutAllProblems, CsrfFailed, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn handle(
    caller: Authenticated,
    identity: web::Data<Identity>,
    auth: web::Data<AuthState>,
) -> Result<HttpResponse, ApiError> {
    identity.logout_all(caller.token.clone()).await?;
    auth.forget(&caller.token);
    Ok(cookies::signed_out(auth.cookie_name()))
}
