//! Cross-site request forgery protection for cookie sessions.
//!
//! A browser attaches the session cookie to requests that another site makes it send, so a
//! state-changing request authenticated by that cookie must prove it came from our own web app:
//!
//! 1. its `Origin` is in the allowlist (exact `scheme://host[:port]`), or, when a browser left
//!    `Origin` out, its `Referer` is on an allowed origin; and
//! 2. it carries `X-CSRF-Token: base64url(HMAC-SHA256(csrf_key, session_token))`, compared in
//!    constant time. Another site can neither read this value nor compute it. The login route
//!    hands it out with [`csrf_token_for`] (and in the readable [`CSRF_COOKIE`]).
//!
//! Requests with `Authorization: Bearer` are not cookie-authenticated (a page on another site
//! cannot add that header without a CORS preflight, which the allowlist refuses), so they skip
//! the token; the auth layer must then use the bearer token alone, never the cookie. Any unsafe
//! request that does carry an `Origin` (login and signup included, against login CSRF) must come
//! from an allowed origin. Safe methods (GET, HEAD, OPTIONS, TRACE) are never checked: they must
//! not change state.
//!
//! Routes that never act on a session, such as payment-provider webhooks (authenticated by
//! their signature, sent by servers that have no origin and no cookies), are exempted by path
//! prefix with [`Csrf::exempt`].
//!
//! The session cookie is found by scanning the raw `Cookie` headers rather than with a strict
//! parser, so a malformed neighbouring cookie cannot hide the session and skip the checks while a
//! more lenient reader downstream still authenticates the request.

use std::{future::ready, sync::Arc};

use actix_web::{
    ResponseError,
    body::{EitherBody, MessageBody},
    dev::ServiceRequest,
    http::{
        Method,
        header::{self, HeaderMap, HeaderName},
    },
    middleware::Next,
};
use base64::Engine as _;
use df_common::{ErrorKind, Secret};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{LayerAnswer, problem::ApiError};

/// The request header carrying the token.
pub const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");
/// The readable cookie the login route sets with the token, so the web app can copy it into
/// [`CSRF_HEADER`].
pub const CSRF_COOKIE: &str = "__Host-df_csrf";
/// The default name of the session cookie.
pub const DEFAULT_SESSION_COOKIE: &str = "__Host-df_session";
/// The smallest key accepted.
pub const MIN_KEY_BYTES: usize = 32;

/// The CSRF token of a session: `base64url(HMAC-SHA256(key, session_token))`, unpadded.
pub fn csrf_token_for(key: &[u8], session_token: &str) -> String {
    match mac(key, session_token) {
        Some(tag) => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag),
        None => String::new(),
    }
}

/// True when `presented` is exactly the token of `session_token`, compared in constant time.
pub fn verify_csrf_token(key: &[u8], session_token: &str, presented: &[u8]) -> bool {
    let expected = csrf_token_for(key, session_token);
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented))
}

fn mac(key: &[u8], session_token: &str) -> Option<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(session_token.as_bytes());
    Some(mac.finalize().into_bytes().into())
}

/// The value of cookie `name` in the raw `Cookie` headers (the first one, as browsers send the
/// most specific first). The token is computed over this value exactly as sent. Names are
/// compared undecoded, so `__Host%2Ddf_session` (which a sibling domain could set, as it lacks
/// the literal `__Host-` prefix) is not the session cookie. The auth layer reads the cookie with
/// this same function, so both always agree on which cookie is the session.
pub fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        // Bytes, not `to_str`: one tossed non-ASCII cookie must not hide the session cookie.
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim())
}

fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.get(..7).map(|scheme| (scheme, &value[7..])))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer ") && !token.trim().is_empty()
        })
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// What the CSRF check needs. `Debug` is derived: the key is a [`Secret`] and prints redacted.
#[derive(Debug)]
pub struct CsrfConfig {
    key: Secret<Vec<u8>>,
    allowed_origins: Vec<String>,
    session_cookie_name: String,
}

impl CsrfConfig {
    /// Checks and normalizes the settings; every problem is reported.
    pub fn new<S: AsRef<str>>(
        key: Vec<u8>,
        allowed_origins: &[S],
        session_cookie_name: &str,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if key.len() < MIN_KEY_BYTES {
            problems.push(format!("csrf key: must be at least {MIN_KEY_BYTES} bytes"));
        }
        let mut origins = Vec::new();
        for origin in allowed_origins {
            match df_common::origin::normalize_origin(origin.as_ref()) {
                Ok(origin) => origins.push(origin),
                Err(problem) => problems.push(problem),
            }
        }
        if session_cookie_name.is_empty()
            || !session_cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            problems.push(format!(
                "session cookie name `{session_cookie_name}` must be non-empty letters, digits, `_`, `-` or `.`"
            ));
        }
        if problems.is_empty() {
            Ok(Self {
                key: Secret::new(key),
                allowed_origins: origins,
                session_cookie_name: session_cookie_name.to_owned(),
            })
        } else {
            Err(problems)
        }
    }

    /// The token for a session under this key.
    pub fn token_for(&self, session_token: &str) -> String {
        csrf_token_for(self.key.expose(), session_token)
    }

    /// True when `origin` (as a browser sends it) is allowed.
    pub fn is_allowed_origin(&self, origin: &str) -> bool {
        df_common::origin::normalize_origin(origin)
            .is_ok_and(|origin| self.allowed_origins.contains(&origin))
    }

    /// The session cookie's name.
    pub fn session_cookie_name(&self) -> &str {
        &self.session_cookie_name
    }

    /// `Ok` when the request may proceed, else the reason (for logs, never for the client).
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), &'static str> {
        if is_safe(method) {
            return Ok(());
        }
        let origin = headers.get(header::ORIGIN);
        if let Some(origin) = origin {
            let allowed = origin.to_str().is_ok_and(|o| self.is_allowed_origin(o));
            if !allowed {
                return Err("origin not allowed");
            }
        }
        if has_bearer(headers) {
            return Ok(());
        }
        let Some(session) = session_cookie(headers, &self.session_cookie_name) else {
            return Ok(());
        };
        if origin.is_none() {
            let referer_allowed = headers
                .get(header::REFERER)
                .and_then(|value| value.to_str().ok())
                .and_then(df_common::origin::origin_of_url)
                .is_some_and(|origin| self.allowed_origins.contains(&origin));
            if !referer_allowed {
                return Err("no allowed origin or referer");
            }
        }
        let Some(token) = headers.get(CSRF_HEADER) else {
            return Err("token missing");
        };
        if !verify_csrf_token(self.key.expose(), session, token.as_bytes()) {
            return Err("token mismatch");
        }
        Ok(())
    }
}

fn refusal(reason: &'static str) -> ApiError {
    ApiError(
        df_common::Error::new(
            ErrorKind::Forbidden,
            "gateway.csrf_failed",
            "The request did not pass cross-site request forgery checks. Reload the page and try again.",
        )
        .with_cause(anyhow::anyhow!("csrf: {reason}")),
    )
}

/// The checks, as a middleware by [`Csrf::layer`]; see the module docs.
#[derive(Clone, Debug)]
pub struct Csrf {
    config: Arc<CsrfConfig>,
    exempt: Arc<[&'static str]>,
}

impl Csrf {
    /// The middleware with `config`.
    pub fn new(config: Arc<CsrfConfig>) -> Self {
        Self {
            config,
            exempt: Arc::new([]),
        }
    }

    /// Leaves requests whose path starts with one of `prefixes` unchecked. Only for routes that
    /// ignore sessions altogether (the session layer must skip them too), or a page on another
    /// site could drive them with the victim's cookie.
    #[must_use]
    pub fn exempt(mut self, prefixes: &[&'static str]) -> Self {
        self.exempt = prefixes.into();
        self
    }

    /// The middleware, for `wrap(from_fn(...))`.
    pub fn layer<B: MessageBody + 'static>(
        self,
    ) -> impl Fn(ServiceRequest, Next<B>) -> LayerAnswer<EitherBody<B>> {
        move |req, next| {
            let exempt = self.exempt.iter().any(|p| req.path().starts_with(p));
            let verdict = if exempt {
                Ok(())
            } else {
                self.config.check(req.method(), req.headers())
            };
            match verdict {
                Ok(()) => Box::pin(async move { Ok(next.call(req).await?.map_into_left_body()) }),
                Err(reason) => {
                    let response = refusal(reason).error_response();
                    Box::pin(ready(Ok(req.into_response(response).map_into_right_body())))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, middleware::from_fn, test as actix_test, web};
    use quickcheck::TestResult;
    use quickcheck_macros::quickcheck;

    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const SESSION: &str = "sess-token-abc";
    const APP: &str = "https://app.directfanz.io";

    fn config() -> Arc<CsrfConfig> {
        Arc::new(
            CsrfConfig::new(
                KEY.to_vec(),
                &[APP, "http://localhost:5173"],
                DEFAULT_SESSION_COOKIE,
            )
            .unwrap(),
        )
    }

    fn cookie() -> (HeaderName, String) {
        (
            header::COOKIE,
            format!("theme=dark; {DEFAULT_SESSION_COOKIE}={SESSION}"),
        )
    }

    fn token() -> String {
        csrf_token_for(KEY, SESSION)
    }

    macro_rules! app {
        () => {
            actix_test::init_service(
                App::new()
                    .route(
                        "/v1/thing",
                        web::post().to(|| async { HttpResponse::Ok().body("done") }),
                    )
                    .route("/v1/thing", web::delete().to(HttpResponse::NoContent))
                    .route("/v1/thing", web::get().to(HttpResponse::Ok))
                    .wrap(from_fn(Csrf::new(config()).layer()))
                    .wrap(from_fn(crate::security::request_id::assign)),
            )
            .await
        };
    }

    async fn status_of(req: actix_test::TestRequest) -> u16 {
        let app = app!();
        let response = actix_test::call_service(&app, req.uri("/v1/thing").to_request()).await;
        let status = response.status().as_u16();
        if status == 403 {
            assert_eq!(
                response.headers().get("content-type").unwrap(),
                "application/problem+json"
            );
            let problem: df_common::error::Problem =
                serde_json::from_slice(&actix_test::read_body(response).await).unwrap();
            assert_eq!(problem.code, "gateway.csrf_failed");
            assert!(
                problem.request_id.is_some(),
                "refusals carry the request id"
            );
        }
        status
    }

    #[actix_web::test]
    async fn cookie_requests_with_origin_and_token_pass() {
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((header::ORIGIN, APP))
            .insert_header((CSRF_HEADER, token()));
        assert_eq!(status_of(req).await, 200);
        let req = actix_test::TestRequest::delete()
            .insert_header(cookie())
            .insert_header((header::ORIGIN, "http://localhost:5173"))
            .insert_header((CSRF_HEADER, token()));
        assert_eq!(status_of(req).await, 204);
    }

    #[actix_web::test]
    async fn exempt_prefixes_skip_the_checks_and_nothing_else_does() {
        let app = actix_test::init_service(
            App::new()
                .route(
                    "/v1/hooks/provider",
                    web::post().to(|| async { HttpResponse::Ok().body("hook") }),
                )
                .route(
                    "/v1/thing",
                    web::post().to(|| async { HttpResponse::Ok().body("done") }),
                )
                .wrap(from_fn(Csrf::new(config()).exempt(&["/v1/hooks/"]).layer())),
        )
        .await;
        for (path, expected) in [("/v1/hooks/provider", 200), ("/v1/thing", 403)] {
            let req = actix_test::TestRequest::post()
                .uri(path)
                .insert_header(cookie())
                .insert_header((header::ORIGIN, "https://evil.example"))
                .to_request();
            let response = actix_test::call_service(&app, req).await;
            assert_eq!(response.status().as_u16(), expected, "{path}");
        }
    }

    #[actix_web::test]
    async fn cookie_requests_without_a_valid_token_are_refused() {
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((header::ORIGIN, APP));
        assert_eq!(status_of(req).await, 403, "missing token");
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((header::ORIGIN, APP))
            .insert_header((CSRF_HEADER, csrf_token_for(KEY, "another-session")));
        assert_eq!(status_of(req).await, 403, "token of another session");
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((header::ORIGIN, APP))
            .insert_header((
                CSRF_HEADER,
                csrf_token_for(b"another key 0123456789abcdefghij", SESSION),
            ));
        assert_eq!(status_of(req).await, 403, "token under another key");
    }

    #[actix_web::test]
    async fn foreign_or_missing_origins_are_refused_for_cookie_requests() {
        for origin in [
            "https://evil.example",
            "null",
            "http://app.directfanz.io",
            "https://app.directfanz.io:8443",
            "https://app.directfanz.io.evil.example",
        ] {
            let req = actix_test::TestRequest::post()
                .insert_header(cookie())
                .insert_header((header::ORIGIN, origin))
                .insert_header((CSRF_HEADER, token()));
            assert_eq!(status_of(req).await, 403, "{origin}");
        }
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((CSRF_HEADER, token()));
        assert_eq!(status_of(req).await, 403, "neither origin nor referer");
    }

    #[actix_web::test]
    async fn a_referer_stands_in_for_a_missing_origin() {
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((header::REFERER, "https://app.directfanz.io/settings?tab=1"))
            .insert_header((CSRF_HEADER, token()));
        assert_eq!(status_of(req).await, 200);
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((
                header::REFERER,
                "https://evil.example/https://app.directfanz.io/",
            ))
            .insert_header((CSRF_HEADER, token()));
        assert_eq!(status_of(req).await, 403);
    }

    #[actix_web::test]
    async fn safe_methods_and_bearer_requests_are_not_checked() {
        let req = actix_test::TestRequest::get()
            .insert_header(cookie())
            .insert_header((header::ORIGIN, "https://evil.example"));
        assert_eq!(status_of(req).await, 200);
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((header::AUTHORIZATION, "Bearer abc.def"));
        assert_eq!(status_of(req).await, 200, "bearer: no token needed");
        let req = actix_test::TestRequest::post()
            .insert_header(cookie())
            .insert_header((header::AUTHORIZATION, "Bearer "));
        assert_eq!(status_of(req).await, 403, "an empty bearer is no bearer");
        let req = actix_test::TestRequest::post()
            .insert_header((header::AUTHORIZATION, "Bearer abc.def"))
            .insert_header((header::ORIGIN, "https://evil.example"));
        assert_eq!(
            status_of(req).await,
            403,
            "a present origin must still be allowed"
        );
    }

    #[actix_web::test]
    async fn login_csrf_checks_the_origin_when_present() {
        let req =
            actix_test::TestRequest::post().insert_header((header::ORIGIN, "https://evil.example"));
        assert_eq!(status_of(req).await, 403);
        let req = actix_test::TestRequest::post().insert_header((header::ORIGIN, APP));
        assert_eq!(status_of(req).await, 200);
        let req = actix_test::TestRequest::post();
        assert_eq!(status_of(req).await, 200, "native clients send no origin");
    }

    #[actix_web::test]
    async fn a_malformed_neighbour_cookie_does_not_hide_the_session() {
        let req = actix_test::TestRequest::post()
            .insert_header((
                header::COOKIE,
                format!("=broken;;x; {DEFAULT_SESSION_COOKIE}={SESSION}"),
            ))
            .insert_header((header::ORIGIN, APP));
        assert_eq!(status_of(req).await, 403);
    }

    #[test]
    fn bad_settings_are_all_reported() {
        let problems =
            CsrfConfig::new(vec![1; 8], &["nope", "https://ok.example"], "bad name").unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        let printed = format!("{:?}", config());
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
    }

    #[test]
    fn the_token_is_deterministic_and_url_safe() {
        assert_eq!(token(), csrf_token_for(KEY, SESSION));
        assert_eq!(token().len(), 43);
        assert!(
            token()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(verify_csrf_token(KEY, SESSION, token().as_bytes()));
        assert!(!verify_csrf_token(KEY, SESSION, b""));
    }

    #[quickcheck]
    fn any_tampered_byte_is_refused(
        key: Vec<u8>,
        session: String,
        index: usize,
        flip: u8,
    ) -> TestResult {
        if flip == 0 {
            return TestResult::discard();
        }
        let token = csrf_token_for(&key, &session);
        let mut tampered = token.into_bytes();
        let at = index % tampered.len();
        tampered[at] ^= flip;
        TestResult::from_bool(
            !verify_csrf_token(&key, &session, &tampered)
                && verify_csrf_token(&key, &session, csrf_token_for(&key, &session).as_bytes()),
        )
    }

    #[quickcheck]
    fn truncated_or_extended_tokens_are_refused(key: Vec<u8>, session: String, extra: u8) -> bool {
        let token = csrf_token_for(&key, &session).into_bytes();
        let mut longer = token.clone();
        longer.push(extra);
        !verify_csrf_token(&key, &session, &token[..token.len() - 1])
            && !verify_csrf_token(&key, &session, &longer)
    }
}
