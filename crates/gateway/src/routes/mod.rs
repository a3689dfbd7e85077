//! Public routes, one handler per file. The route table here is also what the OpenAPI document
//! is checked against.

pub mod auth;
pub mod me;
pub mod openapi;
pub mod payments;

use actix_web::web;

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
    ("POST", "/v1/creator/ppv-items"),
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
        .configure(payments::api_routes);
}

/// Routes of the `webhook` rate-limit class (under `/v1/webhooks`).
pub fn webhook_scope(cfg: &mut web::ServiceConfig) {
    cfg.configure(payments::webhook_routes);
}
