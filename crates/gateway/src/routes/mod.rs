//! Public routes, one handler per file. The route table here is also what the OpenAPI document
//! is checked against.

pub mod auth;
pub mod me;
pub mod media;
pub mod openapi;
pub mod payments;
pub mod wire;

use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, ResponseError, dev::ResourceDef, http::header, web};
use df_common::{Error, ErrorKind};

use crate::security::{ApiError, RateLimiter, ratelimit::CLASS_PUBLIC};

/// Every public route: (method, path template), as documented in the OpenAPI document.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/auth/signup"),
    ("POST", "/v1/auth/verify-email"),
    ("POST", "/v1/auth/resend-verification"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/logout-all"),
    ("POST", "/v1/auth/password-reset/request"),
    ("POST", "/v1/auth/password-reset/confirm"),
    ("POST", "/v1/auth/unlock"),
    ("GET", "/v1/me"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/creator/payout-account/onboarding"),
    ("GET", "/v1/creator/payout-account"),
    ("POST", "/v1/creator/tiers"),
    ("PATCH", "/v1/creator/tiers/{id}"),
    ("DELETE", "/v1/creator/tiers/{id}"),
    ("GET", "/v1/creators/{creator_id}/tiers"),
    ("POST", "/v1/ppv-items/{id}/purchase"),
    ("POST", "/v1/subscriptions"),
    ("POST", "/v1/subscriptions/{id}/cancel"),
    ("GET", "/v1/me/subscriptions"),
    ("POST", "/v1/tips"),
    ("GET", "/v1/creators/{creator_id}/entitlement"),
    ("GET", "/v1/creator/earnings"),
    ("GET", "/v1/creator/payouts"),
    ("PUT", "/v1/creator/tax-profile"),
    ("GET", "/v1/creator/tax-profile"),
    ("GET", "/v1/creator/tax-forms/{year}"),
    ("GET", "/v1/admin/disputes"),
    ("GET", "/v1/admin/payouts/failed"),
    ("POST", "/v1/admin/payouts/run"),
    ("GET", "/v1/admin/creators/{creator_id}/tax-forms/{year}"),
    ("POST", "/v1/creator/posts"),
    ("PUT", "/v1/creator/posts/{id}"),
    ("GET", "/v1/posts/{id}"),
    ("DELETE", "/v1/posts/{id}"),
    ("GET", "/v1/creators/{creator_id}/posts"),
    ("GET", "/v1/me/feed"),
    ("PUT", "/v1/creators/{creator_id}/follow"),
    ("DELETE", "/v1/creators/{creator_id}/follow"),
    ("POST", "/v1/creator/media"),
    ("GET", "/v1/media/{id}"),
    ("GET", "/v1/media/{id}/url"),
    ("GET", "/v1/media/{id}/content"),
    ("OPTIONS", "/v1/creator/uploads"),
    ("POST", "/v1/creator/uploads"),
    ("HEAD", "/v1/creator/uploads/{id}"),
    ("PATCH", "/v1/creator/uploads/{id}"),
    ("DELETE", "/v1/creator/uploads/{id}"),
    ("POST", "/v1/creator/uploads/{id}"),
    ("POST", "/v1/webhooks/stripe"),
];

/// Path prefixes whose routes act for no user (provider webhooks, authenticated by their
/// signature): exempt from the CSRF checks, and the session layer ignores credentials there.
pub const SESSIONLESS_PREFIXES: &[&str] = &[payments::WEBHOOK_PREFIX];

/// Routes of the `auth` rate-limit class (credentials and email flows).
pub fn auth_scope(cfg: &mut web::ServiceConfig) {
    cfg.route("/signup", web::post().to(auth::signup::handle))
        .route("/verify-email", web::post().to(auth::verify_email::handle))
        .route(
            "/resend-verification",
            web::post().to(auth::resend_verification::handle),
        )
        .route("/login", web::post().to(auth::login::handle))
        .route("/logout", web::post().to(auth::logout::handle))
        .route("/logout-all", web::post().to(auth::logout_all::handle))
        .route(
            "/password-reset/request",
            web::post().to(auth::password_reset::request),
        )
        .route(
            "/password-reset/confirm",
            web::post().to(auth::password_reset::confirm),
        )
        .route("/unlock", web::post().to(auth::unlock::handle));
}

/// Routes of the `api` rate-limit class.
pub fn api_scope(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me::handle))
        .configure(payments::api_routes)
        .configure(media::api_routes);
}

/// Routes of the `webhook` rate-limit class (under `/v1/webhooks`).
pub fn webhook_scope(cfg: &mut web::ServiceConfig) {
    cfg.configure(payments::webhook_routes);
}

/// Each route template of [`ROUTES`] with the methods it answers, in the table's order.
static TEMPLATES: LazyLock<Vec<(ResourceDef, String)>> = LazyLock::new(|| {
    let mut templates: Vec<(&str, Vec<&str>)> = Vec::new();
    for (method, path) in ROUTES {
        match templates.iter_mut().find(|(known, _)| known == path) {
            Some((_, methods)) => methods.push(method),
            None => templates.push((path, vec![method])),
        }
    }
    templates
        .into_iter()
        .map(|(path, methods)| (ResourceDef::new(path), methods.join(", ")))
        .collect()
});

/// The methods a route answers at `path` (the value of an `Allow` header), if any route is
/// there.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .find(|(template, _)| template.is_match(path))
        .map(|(_, methods)| methods.as_str())
}

/// The app's default service, for whatever no route takes (inside the scopes too): it spends
/// the client's `public` budget, so probing made-up paths and methods costs as much as any
/// request, then answers `405` with `Allow` where a route answers other methods at this path,
/// and `404` `common.not_found` everywhere else.
pub async fn unrouted(request: HttpRequest, limiter: web::Data<RateLimiter>) -> HttpResponse {
    if let Some(refusal) = limiter.refusal(CLASS_PUBLIC, &request).await {
        return refusal;
    }
    match allowed_methods(request.path()) {
        Some(methods) => {
            let mut response = ApiError(Error::new(
                ErrorKind::MethodNotAllowed,
                "common.method_not_allowed",
                "This resource does not answer that method.",
            ))
            .error_response();
            if let Ok(value) = header::HeaderValue::from_str(methods) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        None => ApiError(Error::not_found()).error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_header_lists_every_method_of_a_template() {
        assert_eq!(allowed_methods("/v1/me"), Some("GET"));
        assert_eq!(
            allowed_methods("/v1/creator/tiers/0193b2c4-0000-7000-8000-000000000000"),
            Some("PATCH, DELETE")
        );
        assert_eq!(allowed_methods("/v1/creator/tax-profile"), Some("PUT, GET"));
        assert_eq!(allowed_methods("/v1/nothing-here"), None);
        assert_eq!(allowed_methods("/v1/me/extra"), None);
    }
}
