//! `POST /v1/auth/login`: returns the session token (for apps) and sets the session and CSRF
//! cookies (for browsers).

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use df_common::Secret;
use df_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};

use super::cookies;
use crate::security::Json;
use crate::{
    auth::AuthState,
    routes::me::UserView,
    security::{client_ip::TrustedProxies, csrf::CsrfConfig, problem::ApiError},
    upstream::Identity,
};

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: Secret<String>,
}

/// Response body.
#[derive(Serialize)]
pub struct LoginView {
    /// Bearer token for apps. Left out for browsers (requests with an `Origin` header): they
    /// use the HttpOnly cookie, so script on the page never sees the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Echo in `X-CSRF-Token` on cookie-authenticated unsafe requests.
    pub csrf_token: String,
    /// When the session ends regardless of use (RFC 3339).
    pub expires_at: String,
    /// The user.
    pub user: UserView,
}

/// Handler.
pub async fn handle(
    request: HttpRequest,
    identity: web::Data<Identity>,
    auth: web::Data<AuthState>,
    csrf: web::Data<CsrfConfig>,
    proxies: web::Data<TrustedProxies>,
    body: Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect())
        .unwrap_or_default();
    let response = identity
        .login(pb::LoginRequest {
            email: body.email,
            password: body.password.into_exposed(),
            // IPv6 clients are grouped by /64, as the rate limiter does.
            client_ip: crate::security::ratelimit::ip_key(proxies.resolve(&request)),
            user_agent,
        })
        .await?;
    let expires = response.absolute_expires_at.unwrap_or_default();
    let expires_at = chrono::DateTime::from_timestamp(expires.seconds, 0).unwrap_or_default();
    let max_age = (expires_at - chrono::Utc::now()).num_seconds();
    let user = response
        .user
        .ok_or_else(|| {
            df_common::Error::internal(anyhow::anyhow!("identity login answer without user"))
        })
        .and_then(UserView::try_from)
        .map_err(ApiError)?;
    let csrf_token = csrf.token_for(&response.session_token);
    let from_browser = request.headers().contains_key(header::ORIGIN);
    Ok(HttpResponse::Ok()
        .cookie(cookies::session(
            auth.cookie_name(),
            &response.session_token,
            max_age,
        ))
        .cookie(cookies::csrf(&csrf_token, max_age))
        .json(LoginView {
            session_token: (!from_browser).then_some(response.session_token),
            csrf_token,
            expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            user,
        }))
}
