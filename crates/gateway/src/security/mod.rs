//! The HTTP security layer of the public gateway.
//!
//! - [`headers`]: CSP, HSTS, `nosniff`, `Referrer-Policy`, `Permissions-Policy`, COOP/CORP,
//!   `X-Frame-Options` and `Cache-Control: no-store` on every response.
//! - [`request_id`]: a safe request id on the request, the tracing span, the response and in
//!   problem bodies.
//! - [`problem`]: errors as `application/problem+json`, for handlers and for actix's extractors.
//! - [`client_ip`]: the client address, believing `X-Forwarded-For` only from trusted proxies.
//! - [`csrf`]: Origin/Referer allowlist plus an HMAC token for cookie sessions.
//! - [`ratelimit`]: exact sliding-window limits per route class, per IP and per user, shared
//!   through Redis and falling back to per-instance limits when Redis is down.
//!
//! Order matters. actix runs the last `wrap` first, so wire the app as (with `limit(class)`
//! standing for `from_fn(RateLimit::new(Arc::clone(&limiter), class).layer())`)
//!
//! ```text
//! App::new()
//!     .app_data(problem::payload_config(max_body_bytes)) // + query_config(), path_config()
//!     .service(web::scope("/v1/auth").wrap(limit("auth")) ...)
//!     .service(web::scope("/v1/webhooks").wrap(limit("webhook")) ...)
//!     .service(web::scope("/v1").wrap(limit("api")) ...)
//!     .default_service(web::to(routes::unrouted)) // public budget, then 405 with Allow or 404
//!     .wrap(from_fn(auth))     // sets the user the limiter reads
//!     .wrap(from_fn(Csrf::new(csrf).exempt(&["/v1/webhooks/"]).layer()))
//!     .wrap(from_fn(cors))
//!     .wrap(from_fn(request_id::assign))
//!     .wrap(from_fn(SecurityHeaders::new(hsts_max_age_secs).layer())) // outermost
//! ```
//!
//! so every response, refusals by inner layers included, gets the headers and the request id.
//!
//! Every layer is an async function of the request and the next service, through actix's
//! `from_fn`; those with settings hand out that function from `layer()`.

pub mod client_ip;
pub mod csrf;
pub mod headers;
pub mod json;
pub mod problem;
pub mod ratelimit;
pub mod request_id;

use std::{collections::HashMap, sync::Arc};

use actix_web::dev::ServiceResponse;
use base64::Engine as _;
use df_common::{
    Secret,
    cache::Cache,
    config::{Validate, check_range},
};
use futures::future::LocalBoxFuture;
use serde::Deserialize;

pub use self::{
    client_ip::{ClientIp, TrustedProxies},
    csrf::{Csrf, CsrfConfig, csrf_token_for, verify_csrf_token},
    headers::SecurityHeaders,
    json::Json,
    problem::{ApiError, not_found, path_config, query_config},
    ratelimit::{AuthenticatedUser, RateLimit, RateLimitRule, RateLimiter},
    request_id::RequestId,
};

/// What a layer's function answers: the next service's response (with the layer's headers), or
/// the layer's own refusal.
pub type LayerAnswer<B> = LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>;

/// Settings of the security layer (section `security` of the gateway's configuration).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// `Strict-Transport-Security` max-age; at least one year.
    pub hsts_max_age_secs: u64,
    /// Origins (`https://app.example.com`) allowed to send state-changing requests.
    pub allowed_origins: Vec<String>,
    /// CIDRs of our own proxies, whose `X-Forwarded-For` is believed. Default: none.
    pub trusted_proxies: Vec<String>,
    /// Base64 key (at least 32 bytes) of the CSRF tokens. Required.
    pub csrf_key: Secret<String>,
    /// Name of the session cookie.
    pub session_cookie_name: String,
    /// Rules per route class; the built-in `auth`, `api`, `public` and `webhook` keep their
    /// defaults unless set here.
    pub rate_limits: HashMap<String, RateLimitRule>,
    /// How long a rate-limit decision may wait for Redis before the local limits answer.
    pub rate_limit_redis_budget_ms: u64,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            hsts_max_age_secs: headers::DEFAULT_HSTS_MAX_AGE_SECS,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            csrf_key: Secret::default(),
            session_cookie_name: csrf::DEFAULT_SESSION_COOKIE.to_owned(),
            rate_limits: ratelimit::default_rules(),
            rate_limit_redis_budget_ms: 200,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl SecurityConfig {
    /// The decoded CSRF key, or why it is unusable (never the key itself).
    pub fn csrf_key_bytes(&self) -> Result<Vec<u8>, String> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(self.csrf_key.expose().trim())
            .map_err(|_| "security.csrf_key: is not valid base64 (value hidden)".to_owned())?;
        if key.len() < csrf::MIN_KEY_BYTES {
            return Err(format!(
                "security.csrf_key: must decode to at least {} bytes (value hidden)",
                csrf::MIN_KEY_BYTES
            ));
        }
        Ok(key)
    }
}

impl Validate for SecurityConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(
            problems,
            "security.hsts_max_age_secs",
            self.hsts_max_age_secs,
            headers::MIN_HSTS_MAX_AGE_SECS,
            10 * headers::MIN_HSTS_MAX_AGE_SECS,
        );
        for origin in &self.allowed_origins {
            if let Err(problem) = df_common::origin::normalize_origin(origin) {
                problems.push(format!("security.allowed_origins: {problem}"));
            }
        }
        if let Err(bad) = TrustedProxies::parse(&self.trusted_proxies) {
            problems.extend(
                bad.into_iter()
                    .map(|problem| format!("security.trusted_proxies: {problem}")),
            );
        }
        if self.csrf_key.is_empty() {
            problems.push(
                "security.csrf_key: is required (base64 of at least 32 random bytes, from a secret file or the environment)"
                    .to_owned(),
            );
        } else if let Err(problem) = self.csrf_key_bytes() {
            problems.push(problem);
        }
        if CsrfConfig::new(
            vec![0; csrf::MIN_KEY_BYTES],
            &[] as &[&str],
            &self.session_cookie_name,
        )
        .is_err()
        {
            problems.push(format!(
                "security.session_cookie_name: `{}` must be letters, digits, `_`, `-` or `.`",
                self.session_cookie_name
            ));
        }
        let mut classes: Vec<_> = self.rate_limits.iter().collect();
        classes.sort_by(|a, b| a.0.cmp(b.0));
        for (class, rule) in classes {
            rule.validate(&format!("security.rate_limits.{class}"), problems);
        }
        check_range(
            problems,
            "security.rate_limit_redis_budget_ms",
            self.rate_limit_redis_budget_ms,
            5,
            5_000,
        );
        check_range(
            problems,
            "security.max_body_bytes",
            self.max_body_bytes,
            1_024,
            64 * 1024 * 1024,
        );
    }
}

/// Everything the app wiring needs, built once from [`SecurityConfig`] and shared by workers.
#[derive(Clone, Debug)]
pub struct Security {
    /// The headers middleware.
    pub headers: SecurityHeaders,
    /// The CSRF settings (wrap with [`Csrf::new`]; hand out tokens with
    /// [`CsrfConfig::token_for`]).
    pub csrf: Arc<CsrfConfig>,
    /// Trusted proxies (also put them in app data so [`ClientIp`] can resolve).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// The rate limiter (wrap scopes with [`RateLimit::new`]).
    pub limiter: Arc<RateLimiter>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl Security {
    /// Builds the layer; `cache` shares rate limits through Redis (without it they are local).
    /// Per-user limits read the [`ratelimit::AuthenticatedUser`] request extension.
    pub fn from_config(
        config: &SecurityConfig,
        cache: Option<Cache>,
    ) -> Result<Self, df_common::config::ConfigError> {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        if !problems.is_empty() {
            return Err(df_common::config::ConfigError { problems });
        }
        let invalid = |problems: Vec<String>| df_common::config::ConfigError { problems };
        let key = config.csrf_key_bytes().map_err(|p| invalid(vec![p]))?;
        let csrf = CsrfConfig::new(key, &config.allowed_origins, &config.session_cookie_name)
            .map_err(invalid)?;
        let trusted_proxies =
            Arc::new(TrustedProxies::parse(&config.trusted_proxies).map_err(invalid)?);
        let limiter = RateLimiter::new(&config.rate_limits, cache, Arc::clone(&trusted_proxies))
            .with_redis_budget(std::time::Duration::from_millis(
                config.rate_limit_redis_budget_ms,
            ));
        Ok(Self {
            headers: SecurityHeaders::new(config.hsts_max_age_secs),
            csrf: Arc::new(csrf),
            trusted_proxies,
            limiter: Arc::new(limiter),
            max_body_bytes: config.max_body_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use df_common::config::{Sources, load_from};

    use super::*;

    const KEY_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Root {
        security: SecurityConfig,
    }

    impl Validate for Root {
        fn validate(&self, problems: &mut Vec<String>) {
            self.security.validate(problems);
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            env: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Sources::default()
        }
    }

    #[test]
    fn loads_from_the_environment_with_defaults() {
        let config: Root = load_from(&env(&[
            ("DF_SECURITY__CSRF_KEY", KEY_B64),
            ("DF_SECURITY__RATE_LIMITS__AUTH__LIMIT", "5"),
            ("DF_SECURITY__RATE_LIMITS__AUTH__WINDOW_SECS", "30"),
        ]))
        .unwrap();
        let security = config.security;
        assert_eq!(security.max_body_bytes, 64 * 1024);
        assert_eq!(security.session_cookie_name, "__Host-df_session");
        assert_eq!(security.hsts_max_age_secs, 63_072_000);
        let layer = Security::from_config(&security, None).unwrap();
        assert_eq!(layer.limiter.rule("auth"), RateLimitRule::new(5, 30));
        assert_eq!(
            layer.limiter.rule("api"),
            RateLimitRule::new(600, 60),
            "default kept"
        );
        assert!(
            !layer.csrf.is_allowed_origin("https://app.directfanz.io"),
            "none by default"
        );
        assert!(!format!("{security:?}").contains(KEY_B64));
    }

    #[test]
    fn every_bad_value_is_reported_without_the_key() {
        let config = SecurityConfig {
            hsts_max_age_secs: 3_600,
            allowed_origins: vec!["https://ok.example".into(), "ok.example/".into()],
            trusted_proxies: vec!["10.0.0.0/8".into(), "10.0.0.1/8".into()],
            csrf_key: Secret::from("c2hvcnQ="),
            session_cookie_name: "has space".into(),
            rate_limits: HashMap::from([("auth".to_owned(), RateLimitRule::new(0, 0))]),
            rate_limit_redis_budget_ms: 0,
            max_body_bytes: 10,
        };
        let mut problems = Vec::new();
        config.validate(&mut problems);
        for setting in [
            "security.hsts_max_age_secs",
            "security.allowed_origins",
            "security.trusted_proxies",
            "security.csrf_key",
            "security.session_cookie_name",
            "security.rate_limits.auth.limit",
            "security.rate_limits.auth.window_secs",
            "security.rate_limit_redis_budget_ms",
            "security.max_body_bytes",
        ] {
            assert_eq!(
                problems.iter().filter(|p| p.starts_with(setting)).count(),
                1,
                "{setting}: {problems:#?}"
            );
        }
        assert_eq!(problems.len(), 9, "{problems:#?}");
        assert!(!problems.iter().any(|p| p.contains("c2hvcnQ")));
        assert!(Security::from_config(&config, None).is_err());
    }

    #[test]
    fn the_csrf_key_is_required() {
        let mut problems = Vec::new();
        SecurityConfig::default().validate(&mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("security.csrf_key"));
        let config = SecurityConfig {
            csrf_key: Secret::from("not base64!"),
            ..SecurityConfig::default()
        };
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert!(problems[0].contains("not valid base64"), "{problems:?}");
    }
}
