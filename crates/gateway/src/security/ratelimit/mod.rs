//! Rate limits per route class, per client IP and per user.
//!
//! Each route class (`auth`, `api`, `public`, ...) has a [`RateLimitRule`]: never more than
//! `limit` requests admitted in any window of `window_secs` (an exact sliding-window log, see
//! [`window`]). A request is counted against its client IP (IPv6 clients by their /64, since
//! one subscriber usually holds a whole /64) and, when authenticated (the auth layer inserts
//! [`AuthenticatedUser`] into the request extensions before this runs), also against its user;
//! it must fit both budgets.
//!
//! The budgets live in Redis, shared by every gateway instance ([`redis_store`]). A budget that
//! one instance spends quickly is leased in blocks for a fifth of a second ([`lease`]), so a
//! busy client costs a Redis round trip per lease rather than per request, and no window ever
//! holds more than `limit` admissions across all instances. **When Redis is
//! unavailable (an error, a timeout, or the cache's breaker open) the limiter fails to local
//! limits**: each instance enforces the same budget alone from its in-process store
//! ([`local_store`]), so during an outage the effective budget is at most `limit × instances`.
//! It never fails closed (refusing everyone because Redis is down) and never waits longer than
//! its Redis budget (200 ms by default) for an answer.
//!
//! Every limited response carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
//! (seconds) and `RateLimit-Policy: <limit>;w=<window>`; refusals are 429 problems
//! `gateway.rate_limited` with `Retry-After`.

pub mod lease;
pub mod local_store;
pub mod redis_store;
pub mod window;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use actix_web::{
    HttpMessage, HttpRequest, ResponseError,
    body::{EitherBody, MessageBody},
    dev::ServiceRequest,
    http::header::{HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
};
use df_common::{ErrorKind, cache::Cache, ids::UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use self::{
    local_store::LocalStore,
    redis_store::{LeaseRequest, RedisStore},
    window::{Decision, SlidingWindow},
};
use super::{
    LayerAnswer,
    client_ip::{ClientIp, TrustedProxies},
    problem::ApiError,
};
use lease::{LeaseBook, Local, Renewal};

/// Route class of sign-up, login, password reset and similar.
pub const CLASS_AUTH: &str = "auth";
/// Route class of authenticated API calls.
pub const CLASS_API: &str = "api";
/// Route class of public, unauthenticated reads.
pub const CLASS_PUBLIC: &str = "public";
/// Route class of payment-provider webhooks: a provider sends bursts from few addresses (after
/// an outage it redelivers everything at once), and each delivery is authenticated by its
/// signature, so the budget is generous and only stops floods.
pub const CLASS_WEBHOOK: &str = "webhook";
/// How long a Redis decision may take before the local store answers instead.
pub const DEFAULT_REDIS_BUDGET: Duration = Duration::from_millis(200);

/// `RateLimit-Limit`.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// At most `limit` requests in any window of `window_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// Requests admitted per window.
    pub limit: u32,
    /// Length of the window in seconds.
    pub window_secs: u32,
}

impl RateLimitRule {
    /// A rule.
    pub const fn new(limit: u32, window_secs: u32) -> Self {
        Self { limit, window_secs }
    }

    /// The window in milliseconds.
    pub fn window_ms(&self) -> u64 {
        u64::from(self.window_secs) * 1_000
    }

    /// The `RateLimit-Policy` value.
    pub fn policy(&self) -> String {
        format!("{};w={}", self.limit, self.window_secs)
    }

    /// Appends a problem per bad value; `setting` names the rule (`security.rate_limits.auth`).
    pub fn validate(&self, setting: &str, problems: &mut Vec<String>) {
        df_common::config::check_range(
            problems,
            &format!("{setting}.limit"),
            self.limit,
            1,
            1_000_000,
        );
        df_common::config::check_range(
            problems,
            &format!("{setting}.window_secs"),
            self.window_secs,
            1,
            86_400,
        );
    }
}

/// The built-in rules: `auth` 20 per minute, `api` 600 per minute, `public` 1200 per minute,
/// `webhook` 6000 per minute.
pub fn default_rules() -> HashMap<String, RateLimitRule> {
    HashMap::from([
        (CLASS_AUTH.to_owned(), RateLimitRule::new(20, 60)),
        (CLASS_API.to_owned(), RateLimitRule::new(600, 60)),
        (CLASS_PUBLIC.to_owned(), RateLimitRule::new(1_200, 60)),
        (CLASS_WEBHOOK.to_owned(), RateLimitRule::new(6_000, 60)),
    ])
}

/// Which store answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// The shared budget in Redis.
    Redis,
    /// This instance's own budget.
    Local,
}

/// A decision and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The decision.
    pub decision: Decision,
    /// The store that made it.
    pub store: StoreKind,
}

/// The request extension through which the auth layer tells the limiter who the user is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuthenticatedUser(pub UserId);

/// The authenticated user's id (as text), from [`AuthenticatedUser`].
fn authenticated_user(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<AuthenticatedUser>()
        .map(|user| user.0.to_string())
}

/// The limiter shared by every scope and worker.
pub struct RateLimiter {
    rules: HashMap<String, RateLimitRule>,
    redis: Option<RedisStore>,
    local: LocalStore,
    redis_budget: Duration,
    trusted: Arc<TrustedProxies>,
    degraded: AtomicBool,
    leases: Mutex<LeaseBook>,
    renewed: Arc<Notify>,
    started: Instant,
    round_trips: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rules", &self.rules)
            .field("redis", &self.redis)
            .field("redis_budget", &self.redis_budget)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter with `rules` (missing built-in classes keep their defaults), budgets in Redis
    /// when `redis` is given (else local only), and client IPs resolved through `trusted`.
    pub fn new(
        rules: &HashMap<String, RateLimitRule>,
        redis: Option<Cache>,
        trusted: Arc<TrustedProxies>,
    ) -> Self {
        let mut all = default_rules();
        all.extend(rules.iter().map(|(k, v)| (k.clone(), *v)));
        Self {
            rules: all,
            redis: redis.map(RedisStore::new),
            local: LocalStore::default(),
            redis_budget: DEFAULT_REDIS_BUDGET,
            trusted,
            degraded: AtomicBool::new(false),
            leases: Mutex::new(LeaseBook::default()),
            renewed: Arc::new(Notify::new()),
            started: Instant::now(),
            round_trips: AtomicU64::new(0),
        }
    }

    /// Sets how long a Redis decision may take before the local store answers.
    #[must_use]
    pub fn with_redis_budget(mut self, budget: Duration) -> Self {
        self.redis_budget = budget;
        self
    }

    /// The rule of `class`; an unknown class gets the `api` rule.
    pub fn rule(&self, class: &str) -> RateLimitRule {
        self.rules
            .get(class)
            .or_else(|| self.rules.get(CLASS_API))
            .copied()
            .unwrap_or(RateLimitRule::new(600, 60))
    }

    /// The client address of `req`, as the limiter keys it (through the trusted proxies).
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        self.trusted.resolve(req)
    }

    /// True when `class` has its own rule.
    pub fn has_class(&self, class: &str) -> bool {
        self.rules.contains_key(class)
    }

    /// Decides a request for `key` now: Redis's clock for the shared budget, this machine's for
    /// the local one.
    pub async fn check(&self, key: &str, rule: RateLimitRule) -> Outcome {
        self.decide(key, rule, None).await
    }

    /// Decides a request for `key` at `now_ms` (milliseconds since the Unix epoch) in whichever
    /// store answers; tests use it to move through time without waiting.
    pub async fn check_at(&self, key: &str, rule: RateLimitRule, now_ms: u64) -> Outcome {
        self.decide(key, rule, Some(now_ms)).await
    }

    async fn decide(&self, key: &str, rule: RateLimitRule, now_ms: Option<u64>) -> Outcome {
        self.admit(&[key.to_owned()], rule, now_ms).await
    }

    /// Decides one request against the budgets of `keys` (all or nothing): from this instance's
    /// leases when each budget holds one, else through Redis (renewing the leases of the budgets
    /// that lack one), else, when Redis is unavailable or slower than its budget, locally.
    async fn admit(&self, keys: &[String], rule: RateLimitRule, now_ms: Option<u64>) -> Outcome {
        if let Some(redis) = &self.redis {
            let deadline = tokio::time::Instant::now() + self.redis_budget;
            loop {
                let local_now = now_ms.unwrap_or_else(|| self.monotonic_ms());
                let mut notified = Box::pin(Arc::clone(&self.renewed).notified_owned());
                let step = match self.leases.lock() {
                    Ok(mut book) => {
                        let step = book.take(keys, rule.limit, local_now);
                        if step == Local::Wait {
                            // Registered before the lock is released: no wake-up is missed.
                            notified.as_mut().enable();
                        }
                        step
                    }
                    Err(_) => break,
                };
                match step {
                    Local::Admitted(decision) => {
                        return Outcome {
                            decision,
                            store: StoreKind::Redis,
                        };
                    }
                    Local::Wait => {
                        if tokio::time::timeout_at(deadline, notified).await.is_err() {
                            break;
                        }
                    }
                    Local::Renew(renewals) => {
                        if let Some(outcome) = self
                            .renew(redis, keys, rule, &renewals, now_ms, local_now, deadline)
                            .await
                        {
                            return outcome;
                        }
                        break;
                    }
                }
            }
        }
        let now_ms = now_ms.unwrap_or_else(wall_clock_ms);
        let mut reported: Option<Decision> = None;
        for key in keys {
            let decision = self
                .local
                .try_admit(key, now_ms, rule.limit, rule.window_ms());
            if !decision.allowed {
                return Outcome {
                    decision,
                    store: StoreKind::Local,
                };
            }
            if reported.is_none_or(|r| decision.remaining < r.remaining) {
                reported = Some(decision);
            }
        }
        Outcome {
            decision: reported.unwrap_or(Decision {
                allowed: true,
                remaining: rule.limit,
                reset_after_ms: 0,
                retry_after_ms: 0,
            }),
            store: StoreKind::Local,
        }
    }

    /// Asks Redis for the budgets that lack a lease. `None` when Redis did not answer in time.
    #[allow(clippy::too_many_arguments)]
    async fn renew(
        &self,
        redis: &RedisStore,
        keys: &[String],
        rule: RateLimitRule,
        renewals: &[(usize, Renewal)],
        now_ms: Option<u64>,
        local_now: u64,
        deadline: tokio::time::Instant,
    ) -> Option<Outcome> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let member = redis_store::new_member();
        let requests: Vec<LeaseRequest> = renewals
            .iter()
            .map(|(index, renewal)| LeaseRequest {
                key: keys[*index].clone(),
                limit: rule.limit,
                window_ms: rule.window_ms(),
                wanted: renewal.wanted,
                lease_ms: renewal.lease_ms,
                returned: renewal.returned.clone(),
            })
            .collect();
        let answer =
            tokio::time::timeout_at(deadline, redis.lease_all(&requests, &member, now_ms)).await;
        let mut book = self.leases.lock().ok();
        let outcome = match answer {
            Ok(Ok(grants)) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limits are shared through Redis again");
                }
                let mut reported: Option<Decision> = None;
                for ((index, renewal), grant) in renewals.iter().zip(&grants) {
                    let decision = book.as_mut().and_then(|book| {
                        book.granted(
                            &keys[*index],
                            &member,
                            renewal,
                            grant,
                            rule.limit,
                            local_now,
                        )
                    });
                    let decision = decision.unwrap_or(grant.decision);
                    if reported.is_none_or(|r| decision.remaining < r.remaining) {
                        reported = Some(decision);
                    }
                }
                // Refused: report the exhausted budget.
                let refusal = grants
                    .iter()
                    .map(|g| g.decision)
                    .find(|d| !d.allowed && d.remaining == 0)
                    .or_else(|| grants.iter().map(|g| g.decision).find(|d| !d.allowed));
                refusal.or(reported).map(|decision| Outcome {
                    decision,
                    store: StoreKind::Redis,
                })
            }
            Ok(Err(error)) => {
                self.note_degraded(&error.to_string());
                None
            }
            Err(_) => {
                self.note_degraded("redis answer took longer than the budget");
                None
            }
        };
        if outcome.is_none()
            && let Some(book) = book.as_mut()
        {
            for (index, _) in renewals {
                book.abandoned(&keys[*index]);
            }
        }
        drop(book);
        self.renewed.notify_waiters();
        outcome
    }

    /// Decisions that asked Redis so far (the others were answered from leases or locally).
    pub fn redis_round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Milliseconds on this instance's monotonic clock (for leases).
    fn monotonic_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Logs the switch to local limits once per outage, not once per request.
    fn note_degraded(&self, reason: &str) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason,
                "Redis unavailable: rate limits fall back to per-instance local limits"
            );
        }
    }

    /// Decides `req` under `class`: the user's budget (when authenticated) and the client IP's.
    /// Through Redis both are decided in one atomic round trip, all or nothing; the local
    /// fallback checks the user first so a refusal there spends no IP budget. Returns the
    /// outcome to report (a refusal, else the tighter budget).
    async fn check_request(&self, class: &str, rule: RateLimitRule, req: &HttpRequest) -> Outcome {
        let ip = self.trusted.resolve(req);
        req.extensions_mut().insert(ClientIp(ip));
        let mut keys = Vec::with_capacity(2);
        if let Some(user) = authenticated_user(req) {
            keys.push(format!("{class}:user:{user}"));
        }
        keys.push(format!("{class}:ip:{}", ip_key(ip)));
        self.admit(&keys, rule, None).await
    }

    /// Spends one request of `class` for `req` outside the [`RateLimit`] middleware (the app's
    /// default service): `None` when admitted, else the `429` answer with its headers.
    pub async fn refusal(&self, class: &str, req: &HttpRequest) -> Option<actix_web::HttpResponse> {
        let rule = self.rule(class);
        let decision = self.check_request(class, rule, req).await.decision;
        if decision.allowed {
            return None;
        }
        let mut response = refusal(&decision).error_response();
        set_headers(response.headers_mut(), rule, &decision);
        Some(response)
    }

    /// Decides one request against several budgets at `now_ms` (tests move through time with
    /// it), all or nothing, as [`RateLimit`] does for a user's and an IP's budget.
    pub async fn check_all_at(&self, keys: &[String], rule: RateLimitRule, now_ms: u64) -> Outcome {
        self.admit(keys, rule, Some(now_ms)).await
    }
}

/// IPv4 addresses as they are; IPv6 by their /64 network.
pub fn ip_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn set_headers(headers: &mut HeaderMap, rule: RateLimitRule, decision: &Decision) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(rule.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    let reset = super::problem::ceil_secs(u128::from(decision.reset_after_ms));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(reset));
    if let Ok(policy) = HeaderValue::from_str(&rule.policy()) {
        headers.insert(RATELIMIT_POLICY, policy);
    }
}

fn refusal(decision: &Decision) -> ApiError {
    ApiError(
        df_common::Error::new(
            ErrorKind::RateLimited,
            "gateway.rate_limited",
            "Too many requests. Try again later.",
        )
        .with_retry_after(Duration::from_millis(decision.retry_after_ms.max(1))),
    )
}

/// The limit of one route class, as a middleware by [`RateLimit::layer`].
#[derive(Clone, Debug)]
pub struct RateLimit {
    limiter: Arc<RateLimiter>,
    class: Arc<str>,
    rule: RateLimitRule,
}

impl RateLimit {
    /// Limits with the rule of `class` (an unknown class is logged and gets the `api` rule).
    pub fn new(limiter: Arc<RateLimiter>, class: &str) -> Self {
        if !limiter.has_class(class) {
            tracing::error!(
                class,
                "no rate-limit rule for this class; using the api rule"
            );
        }
        let rule = limiter.rule(class);
        Self {
            limiter,
            class: Arc::from(class),
            rule,
        }
    }

    /// The middleware, for `scope.wrap(from_fn(RateLimit::new(limiter, "auth").layer()))`.
    pub fn layer<B: MessageBody + 'static>(
        self,
    ) -> impl Fn(ServiceRequest, Next<B>) -> LayerAnswer<EitherBody<B>> {
        move |req, next| {
            let RateLimit {
                limiter,
                class,
                rule,
            } = self.clone();
            Box::pin(async move {
                let outcome = limiter.check_request(&class, rule, req.request()).await;
                let decision = outcome.decision;
                if !decision.allowed {
                    tracing::debug!(class = %class, store = ?outcome.store, "rate limited");
                    let mut response = req.into_response(refusal(&decision).error_response());
                    set_headers(response.headers_mut(), rule, &decision);
                    return Ok(response.map_into_right_body());
                }
                match next.call(req).await {
                    Ok(mut response) => {
                        set_headers(response.headers_mut(), rule, &decision);
                        Ok(response.map_into_left_body())
                    }
                    Err(mut error) => {
                        error.add_response_mapper(move |mut response| {
                            set_headers(response.headers_mut(), rule, &decision);
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
    use actix_web::{App, HttpResponse, middleware::from_fn, test as actix_test, web};

    use super::*;

    fn limiter(rules: &[(&str, u32, u32)]) -> RateLimiter {
        let rules = rules
            .iter()
            .map(|(class, limit, window)| {
                ((*class).to_owned(), RateLimitRule::new(*limit, *window))
            })
            .collect();
        RateLimiter::new(&rules, None, Arc::new(TrustedProxies::none()))
    }

    macro_rules! app {
        ($limiter:expr) => {{
            let limiter = Arc::new($limiter);
            actix_test::init_service(
                App::new()
                    .service(
                        web::scope("/auth")
                            .wrap(from_fn(
                                RateLimit::new(Arc::clone(&limiter), CLASS_AUTH).layer(),
                            ))
                            .route("/login", web::post().to(HttpResponse::Ok)),
                    )
                    .service(
                        web::scope("/v1")
                            // An inner layer that fails with an `Err` rather than a response.
                            .wrap(from_fn(|req: ServiceRequest, next: Next<_>| async move {
                                if req.path() == "/v1/mw-fail" {
                                    return Err(actix_web::error::ErrorForbidden("no"));
                                }
                                next.call(req).await
                            }))
                            .wrap(from_fn(
                                RateLimit::new(Arc::clone(&limiter), CLASS_API).layer(),
                            ))
                            .route("/me", web::get().to(HttpResponse::Ok))
                            .route(
                                "/fail",
                                web::get().to(|| async {
                                    Err::<HttpResponse, _>(
                                        actix_web::error::ErrorInternalServerError("x"),
                                    )
                                }),
                            ),
                    )
                    // Plays the auth layer: marks requests with `x-test-user` as authenticated.
                    .wrap(from_fn(|req: ServiceRequest, next: Next<_>| async move {
                        if let Some(user) = req.headers().get("x-test-user") {
                            let user = user.to_str().unwrap().parse().unwrap();
                            req.extensions_mut().insert(AuthenticatedUser(user));
                        }
                        next.call(req).await
                    })),
            )
            .await
        }};
    }

    fn from(ip: &str) -> actix_test::TestRequest {
        actix_test::TestRequest::default().peer_addr(format!("{ip}:5000").parse().unwrap())
    }

    #[actix_web::test]
    async fn allowed_responses_carry_the_headers_and_refusals_are_429_problems() {
        let app = app!(limiter(&[("auth", 3, 60)]));
        for remaining in [2, 1, 0] {
            let req = from("203.0.113.1")
                .method(actix_web::http::Method::POST)
                .uri("/auth/login");
            let response = actix_test::call_service(&app, req.to_request()).await;
            assert_eq!(response.status(), 200);
            let h = response.headers();
            assert_eq!(h.get("ratelimit-limit").unwrap(), "3");
            assert_eq!(
                h.get("ratelimit-remaining").unwrap(),
                &remaining.to_string()
            );
            assert_eq!(h.get("ratelimit-reset").unwrap(), "60");
            assert_eq!(h.get("ratelimit-policy").unwrap(), "3;w=60");
        }
        let req = from("203.0.113.1")
            .method(actix_web::http::Method::POST)
            .uri("/auth/login");
        let response = actix_test::call_service(&app, req.to_request()).await;
        assert_eq!(response.status(), 429);
        let h = response.headers().clone();
        assert_eq!(h.get("content-type").unwrap(), "application/problem+json");
        let retry: u64 = h
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((59..=60).contains(&retry), "{retry}");
        assert_eq!(h.get("ratelimit-remaining").unwrap(), "0");
        assert_eq!(h.get("ratelimit-policy").unwrap(), "3;w=60");
        let problem: df_common::error::Problem =
            serde_json::from_slice(&actix_test::read_body(response).await).unwrap();
        assert_eq!(problem.code, "gateway.rate_limited");
        assert_eq!(problem.status, 429);

        let other = from("203.0.113.2")
            .method(actix_web::http::Method::POST)
            .uri("/auth/login");
        assert_eq!(
            actix_test::call_service(&app, other.to_request())
                .await
                .status(),
            200,
            "per IP"
        );
        let api = from("203.0.113.1").uri("/v1/me");
        assert_eq!(
            actix_test::call_service(&app, api.to_request())
                .await
                .status(),
            200,
            "per class"
        );
    }

    #[actix_web::test]
    async fn ipv6_clients_share_their_slash_64() {
        let app = app!(limiter(&[("auth", 1, 60)]));
        let first = from("[2001:db8:1:2::1]")
            .method(actix_web::http::Method::POST)
            .uri("/auth/login");
        assert_eq!(
            actix_test::call_service(&app, first.to_request())
                .await
                .status(),
            200
        );
        let same_64 = from("[2001:db8:1:2:ffff::9]")
            .method(actix_web::http::Method::POST)
            .uri("/auth/login");
        assert_eq!(
            actix_test::call_service(&app, same_64.to_request())
                .await
                .status(),
            429
        );
        let other_64 = from("[2001:db8:1:3::1]")
            .method(actix_web::http::Method::POST)
            .uri("/auth/login");
        assert_eq!(
            actix_test::call_service(&app, other_64.to_request())
                .await
                .status(),
            200
        );
    }

    #[actix_web::test]
    async fn authenticated_users_have_their_own_budget_across_ips() {
        let app = app!(limiter(&[("api", 2, 60)]));
        let call = |ip: &'static str| {
            from(ip)
                .insert_header(("x-test-user", "0190f5c2-7a7e-7cc0-8000-000000000001"))
                .uri("/v1/me")
        };
        assert_eq!(
            actix_test::call_service(&app, call("198.51.100.1").to_request())
                .await
                .status(),
            200
        );
        assert_eq!(
            actix_test::call_service(&app, call("198.51.100.2").to_request())
                .await
                .status(),
            200
        );
        let third = actix_test::call_service(&app, call("198.51.100.3").to_request()).await;
        assert_eq!(
            third.status(),
            429,
            "the user's budget is spent, whatever the IP"
        );
        let anonymous = from("198.51.100.3").uri("/v1/me");
        assert_eq!(
            actix_test::call_service(&app, anonymous.to_request())
                .await
                .status(),
            200,
            "a refused user request did not spend the IP budget"
        );
    }

    #[actix_web::test]
    async fn inner_errors_still_get_the_headers() {
        let app = app!(limiter(&[]));
        let response =
            actix_test::call_service(&app, from("192.0.2.1").uri("/v1/fail").to_request()).await;
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers().get("ratelimit-limit").unwrap(), "600");
        assert_eq!(
            response.headers().get("ratelimit-policy").unwrap(),
            "600;w=60"
        );

        let req = from("192.0.2.1").uri("/v1/mw-fail").to_request();
        let (status, headers, _) = crate::security::problem::render(&app, req).await;
        assert_eq!(status, 403);
        assert_eq!(headers.get("ratelimit-limit").unwrap(), "600");
        assert_eq!(headers.get("ratelimit-remaining").unwrap(), "598");
    }

    #[actix_web::test]
    async fn unknown_classes_get_the_api_rule_and_defaults_fill_gaps() {
        let limiter = limiter(&[("auth", 5, 10)]);
        assert_eq!(limiter.rule("auth"), RateLimitRule::new(5, 10));
        assert_eq!(limiter.rule("public"), RateLimitRule::new(1_200, 60));
        assert_eq!(limiter.rule("nonsense"), RateLimitRule::new(600, 60));
    }

    #[actix_web::test]
    async fn without_redis_decisions_are_local_and_exact() {
        let limiter = limiter(&[]);
        let rule = RateLimitRule::new(2, 1);
        let at = |t| limiter.check_at("k", rule, t);
        assert_eq!(at(10_000).await.store, StoreKind::Local);
        assert!(at(10_100).await.decision.allowed);
        let refused = at(10_500).await.decision;
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_ms, 500);
        assert!(at(11_000).await.decision.allowed);
    }

    #[test]
    fn ip_keys() {
        assert_eq!(ip_key("192.0.2.1".parse().unwrap()), "192.0.2.1");
        assert_eq!(ip_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
        assert_eq!(
            ip_key("2001:db8:a:b:c:d:e:f".parse().unwrap()),
            "2001:db8:a:b::/64"
        );
    }
}
