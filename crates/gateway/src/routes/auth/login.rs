//! `POST /v1/auth/login`: returns the session token (for apps) and sets the session and CSRF
//! cookies (for browsers).

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use df_common::Secret;
use df_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cookies;
use crate::routes::openapi::{
    InternalError, JSON_BODY, PayloadTooLarge, Timeout, Unavailable, problems,
};
use crate::security::Json;
use crate::{
    auth::AuthState,
    routes::me::UserView,
    security::{client_ip::TrustedProxies, csrf::CsrfConfig, problem::ApiError},
    upstream::Identity,
};

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LoginRequest)]
pub struct LoginBody {
    /// The account's email address, in any case. A malformed or unknown address gets the same
    /// answer as a wrong password (an address of more than 320 bytes is refused with
    /// `common.field_too_long`).
    #[schema(max_length = 254)]
    email: String,
    /// The password. The rules for new passwords do not apply here; a password of more than
    /// 1024 bytes is refused with `common.field_too_long`.
    #[schema(value_type = String, format = Password, max_length = 1024)]
    password: Secret<String>,
}

/// A new session.
#[derive(Serialize, ToSchema)]
#[schema(as = LoginResponse, examples(json!({
    "session_token": "TmjKgJA64o_Hj0HANK22bvMjzuLvoFWNm9Q-ON-uMTI",
    "csrf_token": "lrBtu9e14w00592kHNUR1D6W83sk2A9NDy7efw0EJ6k",
    "expires_at": "2026-12-20T09:15:00Z",
    "user": {
        "id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
        "email": "fan@example.com",
        "username": "night_owl",
        "role": "fan",
        "email_verified": true,
        "created_at": "2026-11-20T09:15:00Z"
    }
})))]
pub struct LoginView {
    /// The session token, for apps: they send it as `Authorization: Bearer <session_token>`.
    /// Left out when the login request carries an `Origin` header (a browser): browsers use
    /// the HttpOnly `__Host-df_session` cookie set by the same response, so script never sees
    /// the session. Keep it secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[A-Za-z0-9_-]{43,128}$")]
    pub session_token: Option<String>,
    /// The CSRF token of this session (also in the readable `__Host-df_csrf` cookie). Browsers
    /// echo it in `X-CSRF-Token` on every cookie-authenticated POST.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub csrf_token: String,
    /// When the session ends regardless of activity (RFC 3339, UTC). It can end earlier: after
    /// a period of inactivity, on logout, on a password reset or when the account is suspended.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// The user.
    pub user: UserView,
}

problems!(LoginProblems {
    400 [JSON_BODY, "common.field_too_long"]
        "`common.field_too_long`: the email or password is far beyond any valid length.",
    401 ["identity.invalid_credentials"]
        "The email or password is wrong, or there is no such account (the answer does not say \
         which).",
    403 ["identity.email_not_verified", "identity.account_suspended", "gateway.csrf_failed"]
        "The credentials are right but the account may not log in: \
         `identity.email_not_verified` (follow the emailed link, or ask for a new one with \
         `POST /v1/auth/resend-verification`) or `identity.account_suspended`. Or \
         `gateway.csrf_failed`: the request came from an origin that is not allowed, or it \
         carries a session cookie without that session's `X-CSRF-Token`.",
    429 ["identity.too_many_attempts", "identity.login_locked", "gateway.rate_limited"]
        "Refused before the password is checked. `identity.too_many_attempts`: too many recent \
         failures for this account or from this client address; wait `Retry-After` seconds. \
         `identity.login_locked`: logins to the account are locked after repeated failures \
         until it is unlocked with the emailed link (`POST /v1/auth/unlock`) or the password is \
         reset; there is no `Retry-After`. `gateway.rate_limited`: the `auth` route class \
         budget is spent.",
});

/// Handler.
#[utoipa::path(
    post, path = "/v1/auth/login", operation_id = "login", tag = "auth",
    summary = "Log in",
    description = "Checks the credentials and opens a session. The response carries the session \
                   token for apps and sets two cookies for browsers: `__Host-df_session` \
                   (HttpOnly) and `__Host-df_csrf` (readable by the page, for `X-CSRF-Token`). \
                   Wrong passwords and unknown accounts get the same answer. Repeated failures \
                   slow down, then lock logins to the account (an unlock link is emailed).",
    request_body(content = LoginBody, example = json!({
        "email": "fan@example.com",
        "password": "plum-orbit-tundra-47-lantern"
    })),
    responses(
        (status = 200, body = LoginView, description = "Logged in.",
            headers(("Set-Cookie" = String, description = "Two cookies, both `Secure; \
                SameSite=Lax; Path=/` with the session's lifetime as `Max-Age`: \
                `__Host-df_session=<session_token>; HttpOnly` and \
                `__Host-df_csrf=<csrf_token>`."))),
        LoginProblems, PayloadTooLarge, InternalError, Unavailable, Timeout,
    ),
)]
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
