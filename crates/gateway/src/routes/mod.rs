//! Public routes, one handler per file. The route table here is also what the OpenAPI document
//! is checked against.

pub mod auth;
pub mod me;
pub mod openapi;

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
];

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
    cfg.route("/me", web::get().to(me::handle));
}
