//! Security headers on every response.
//!
//! The gateway serves only JSON to programs, never documents to render, so the policy denies
//! everything a browser could do with a response: no scripts, frames, plugins or form targets
//! (CSP), no framing (`frame-ancestors` and `X-Frame-Options` for old browsers), no MIME sniffing,
//! no referrer, no powerful features, and its own browsing-context group.
//!
//! `Cross-Origin-Resource-Policy` is `same-origin`: it only governs `no-cors` loads (`<img>`,
//! `<script>`); the web app's `fetch` calls are CORS requests and are governed by the CORS
//! allowlist instead, and media is served from signed storage URLs, not from the gateway, so no
//! other site ever needs to embed a gateway response.
//!
//! Responses are `Cache-Control: no-store` unless the handler chose a policy (public reads that
//! are safe to cache set their own).
//!
//! Wrap this outermost. An `Err` from the inner services (which actix renders only after every
//! middleware has returned) gets the headers through a response mapper when it is rendered, so
//! 404s, 405s, 500s and problem responses all carry them.

use std::sync::Arc;

use actix_web::{
    body::MessageBody,
    dev::ServiceRequest,
    http::header::{self, HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
};

use super::LayerAnswer;

/// The smallest HSTS max-age accepted (one year), as browsers' preload lists require.
pub const MIN_HSTS_MAX_AGE_SECS: u64 = 31_536_000;
/// The default HSTS max-age (two years).
pub const DEFAULT_HSTS_MAX_AGE_SECS: u64 = 63_072_000;

/// The Content-Security-Policy of an API that never serves a document.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'";
/// Every powerful feature denied.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), ambient-light-sensor=(), autoplay=(), battery=(), browsing-topics=(), camera=(), display-capture=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), interest-cohort=(), magnetometer=(), microphone=(), midi=(), payment=(), publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()";

/// The security headers, as a middleware by [`SecurityHeaders::layer`].
#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
}

impl SecurityHeaders {
    /// The headers with `Strict-Transport-Security: max-age=<hsts_max_age_secs>;
    /// includeSubDomains`. Values below [`MIN_HSTS_MAX_AGE_SECS`] are raised to it (the
    /// configuration check reports them; this keeps a bad value from weakening the header).
    pub fn new(hsts_max_age_secs: u64) -> Self {
        let max_age = hsts_max_age_secs.max(MIN_HSTS_MAX_AGE_SECS);
        let hsts = HeaderValue::from_str(&format!("max-age={max_age}; includeSubDomains"))
            .unwrap_or_else(|_| HeaderValue::from_static("max-age=63072000; includeSubDomains"));
        let headers = vec![
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (header::STRICT_TRANSPORT_SECURITY, hsts),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static(PERMISSIONS_POLICY),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                HeaderName::from_static("x-permitted-cross-domain-policies"),
                HeaderValue::from_static("none"),
            ),
        ];
        Self {
            headers: Arc::new(headers),
        }
    }
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self::new(DEFAULT_HSTS_MAX_AGE_SECS)
    }
}

/// Puts the fixed headers on `headers`, overriding any a handler set (one policy for the whole
/// API), and `no-store` when no cache policy was chosen.
fn apply(fixed: &[(HeaderName, HeaderValue)], headers: &mut HeaderMap) {
    for (name, value) in fixed {
        headers.insert(name.clone(), value.clone());
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

impl SecurityHeaders {
    /// The middleware, for `wrap(from_fn(...))`.
    pub fn layer<B: MessageBody + 'static>(
        self,
    ) -> impl Fn(ServiceRequest, Next<B>) -> LayerAnswer<B> {
        move |req, next| {
            let headers = Arc::clone(&self.headers);
            Box::pin(async move {
                match next.call(req).await {
                    Ok(mut response) => {
                        apply(&headers, response.headers_mut());
                        Ok(response)
                    }
                    Err(mut error) => {
                        error.add_response_mapper(move |mut response| {
                            apply(&headers, response.headers_mut());
                            response
                        });
                        Err(error)
                    }
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{
        App, HttpResponse, dev::ServiceResponse, middleware::from_fn, test as actix_test, web,
    };

    use super::*;
    use crate::security::problem::{ApiError, not_found, render};

    fn assert_secured(h: &HeaderMap) {
        let get = |name: &str| {
            h.get(name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(get("content-security-policy"), CONTENT_SECURITY_POLICY);
        assert!(get("content-security-policy").contains("frame-ancestors 'none'"));
        assert_eq!(
            get("strict-transport-security"),
            "max-age=63072000; includeSubDomains"
        );
        assert_eq!(get("x-content-type-options"), "nosniff");
        assert_eq!(get("referrer-policy"), "no-referrer");
        let permissions = get("permissions-policy");
        for feature in [
            "camera=()",
            "microphone=()",
            "geolocation=()",
            "interest-cohort=()",
        ] {
            assert!(permissions.contains(feature), "{feature}");
        }
        assert_eq!(get("cross-origin-opener-policy"), "same-origin");
        assert_eq!(get("cross-origin-resource-policy"), "same-origin");
        assert_eq!(get("x-frame-options"), "DENY");
    }

    /// An inner middleware that fails with an `Err` instead of a response.
    async fn failing_middleware(
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        if req.path() == "/mw-error" {
            return Err(ApiError(df_common::Error::forbidden()).into());
        }
        next.call(req).await
    }

    macro_rules! app {
        () => {
            actix_test::init_service(
                App::new()
                    .route(
                        "/ok",
                        web::get().to(|| async { HttpResponse::Ok().body("hi") }),
                    )
                    .route(
                        "/cached",
                        web::get().to(|| async {
                            HttpResponse::Ok()
                                .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
                                .finish()
                        }),
                    )
                    .route(
                        "/boom",
                        web::get().to(|| async { HttpResponse::InternalServerError().finish() }),
                    )
                    .route(
                        "/api-error",
                        web::get().to(|| async {
                            Err::<HttpResponse, _>(ApiError(df_common::Error::internal(
                                anyhow::anyhow!("x"),
                            )))
                        }),
                    )
                    .route(
                        "/actix-error",
                        web::get().to(|| async {
                            Err::<HttpResponse, _>(actix_web::error::ErrorBadRequest("nope"))
                        }),
                    )
                    .service(web::resource("/only-get").route(web::get().to(HttpResponse::Ok)))
                    .default_service(web::to(not_found))
                    .wrap(from_fn(failing_middleware))
                    .wrap(from_fn(crate::security::request_id::assign))
                    .wrap(from_fn(SecurityHeaders::default().layer())),
            )
            .await
        };
    }

    #[actix_web::test]
    async fn every_kind_of_response_is_secured() {
        let app = app!();
        for (method, path, status) in [
            ("GET", "/ok", 200),
            ("GET", "/boom", 500),
            ("GET", "/api-error", 500),
            ("GET", "/actix-error", 400),
            ("GET", "/mw-error", 403),
            ("GET", "/missing", 404),
            ("POST", "/only-get", 405),
        ] {
            let req = actix_test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(path)
                .to_request();
            let (got, headers, _) = render(&app, req).await;
            assert_eq!(got.as_u16(), status, "{path}");
            assert_secured(&headers);
            assert_eq!(headers.get("cache-control").unwrap(), "no-store", "{path}");
            assert!(headers.contains_key("x-request-id"), "{path}");
        }
    }

    #[actix_web::test]
    async fn middleware_errors_become_problem_responses_with_headers() {
        let app = app!();
        let req = actix_test::TestRequest::get().uri("/mw-error").to_request();
        let (status, headers, body) = render(&app, req).await;
        assert_eq!(status, 403);
        assert_secured(&headers);
        assert_eq!(
            headers.get("content-type").unwrap(),
            "application/problem+json"
        );
        let id = headers.get("x-request-id").unwrap().clone();
        let problem: df_common::error::Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.code, "common.forbidden");
        assert_eq!(problem.request_id.as_deref(), Some(id.to_str().unwrap()));
    }

    #[actix_web::test]
    async fn a_handler_cache_policy_is_kept() {
        let app = app!();
        let req = actix_test::TestRequest::get().uri("/cached").to_request();
        let (_, headers, _) = render(&app, req).await;
        assert_secured(&headers);
        assert_eq!(headers.get("cache-control").unwrap(), "public, max-age=60");
    }

    #[actix_web::test]
    async fn hsts_max_age_is_configurable_but_never_below_a_year() {
        let app = actix_test::init_service(
            App::new()
                .route("/", web::get().to(HttpResponse::Ok))
                .wrap(from_fn(SecurityHeaders::new(40_000_000).layer())),
        )
        .await;
        let response =
            actix_test::call_service(&app, actix_test::TestRequest::get().to_request()).await;
        assert_eq!(
            response.headers().get("strict-transport-security").unwrap(),
            "max-age=40000000; includeSubDomains"
        );
        let app = actix_test::init_service(
            App::new()
                .route("/", web::get().to(HttpResponse::Ok))
                .wrap(from_fn(SecurityHeaders::new(60).layer())),
        )
        .await;
        let response =
            actix_test::call_service(&app, actix_test::TestRequest::get().to_request()).await;
        assert_eq!(
            response.headers().get("strict-transport-security").unwrap(),
            "max-age=31536000; includeSubDomains"
        );
    }
}
