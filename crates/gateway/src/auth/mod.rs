//! Client authentication at the edge: a session token arrives as `Authorization: Bearer` (apps)
//! or in the `__Host-` session cookie (browsers). The session middleware validates it once per
//! request (through a sub-second cache) and stores the result in the request, so rate limits can
//! key on the user and handlers take an [`Authenticated`] argument.

pub mod session_cache;

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
};

use actix_web::{
    Error as ActixError, FromRequest, HttpMessage, HttpRequest,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
    web,
};
use df_common::{Error, ErrorKind, auth::Role, ids::UserId};
use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};

use crate::{
    security::{
        RateLimiter,
        problem::ApiError,
        ratelimit::{AuthenticatedUser, ip_key},
    },
    upstream::{Identity, ValidatedSession},
};
use session_cache::{Cached, SessionCache};

fn invalid_session() -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        "identity.invalid_session",
        "The session is invalid or has expired.",
    )
}

/// How the client presented its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer` (not subject to CSRF: browsers never attach it on their own).
    Bearer,
    /// The session cookie.
    Cookie,
}

/// A request whose session identity vouched for.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The user.
    pub user_id: UserId,
    /// The user's role.
    pub role: Role,
    /// The raw token (for logout).
    pub token: String,
    /// How it was presented.
    pub credential: Credential,
    /// The validation answer.
    pub session: ValidatedSession,
}

/// Why a presented credential could not be checked (e.g. identity unavailable): handlers that
/// need a user answer with this instead of a misleading 401.
#[derive(Clone)]
struct AuthUnavailable(Arc<Error>);

/// What a validation in flight resolves to; each waiting request answers with a public copy
/// of the error.
type FlightResult = Result<ValidatedSession, Arc<Error>>;
/// One call to identity that every request presenting the same token waits for.
type Flight = Shared<BoxFuture<'static, FlightResult>>;
/// Flights kept at most (each ends with its call; the cap only bounds abandoned ones).
const MAX_FLIGHTS: usize = 10_000;

/// Shared state of the session middleware.
pub struct AuthState {
    identity: Identity,
    cache: Arc<SessionCache>,
    /// Validations under way, by token digest: when a cached answer expires under load, one
    /// call to identity answers every request that was waiting for it.
    flights: Arc<Mutex<HashMap<[u8; 32], Flight>>>,
    cookie_name: String,
    lookups: Option<Arc<RateLimiter>>,
    ignored: Vec<&'static str>,
}

impl AuthState {
    /// State over an identity client.
    pub fn new(identity: Identity, cookie_name: String) -> Self {
        Self {
            identity,
            cache: Arc::new(SessionCache::default()),
            flights: Arc::new(Mutex::new(HashMap::new())),
            cookie_name,
            lookups: None,
            ignored: Vec::new(),
        }
    }

    /// Never looks at credentials on paths starting with one of `prefixes`: routes that act for
    /// no user (provider webhooks) then cost no identity call and keep working while identity is
    /// down, whatever cookies the sender carries.
    #[must_use]
    pub fn ignoring(mut self, prefixes: &[&'static str]) -> Self {
        self.ignored = prefixes.to_vec();
        self
    }

    /// Bounds, per client IP, the lookups that miss the edge cache and cost a call to identity
    /// (budget of the `public` class), so floods of made-up tokens stay cheap.
    #[must_use]
    pub fn with_lookup_limit(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.lookups = Some(limiter);
        self
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Forgets a token locally (after logout).
    pub fn forget(&self, token: &str) {
        self.cache.forget(token);
    }

    async fn validate(
        &self,
        token: &str,
        request: &HttpRequest,
    ) -> Result<ValidatedSession, Error> {
        match self.cache.get(token) {
            Some(Cached::Valid(session)) => return Ok(session),
            Some(Cached::Invalid) => return Err(invalid_session()),
            None => {}
        }
        let digest = session_cache::key(token);
        self.join_or_start_flight(token, digest, request)
            .await
            .map_err(|error| error.public_copy())
    }

    /// Bounds, per client IP, the lookups that cost a call to identity.
    async fn check_lookup_budget(
        limiter: Option<Arc<RateLimiter>>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), Error> {
        let (Some(limiter), Some(ip)) = (limiter, ip) else {
            return Ok(());
        };
        let outcome = limiter
            .check(
                &format!("session_lookup:ip:{}", ip_key(ip)),
                limiter.rule("public"),
            )
            .await;
        if outcome.decision.allowed {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::RateLimited,
            "gateway.rate_limited",
            "Too many requests. Try again later.",
        )
        .with_retry_after(std::time::Duration::from_millis(
            outcome.decision.retry_after_ms.max(1),
        )))
    }

    /// Joins the call to identity for `token` that another request started, or starts it.
    /// The flight caches its answer and removes itself when it lands.
    fn join_or_start_flight(&self, token: &str, digest: [u8; 32], request: &HttpRequest) -> Flight {
        let Ok(mut flights) = self.flights.lock() else {
            // A poisoned map only costs the sharing.
            return self.flight(token, digest, request);
        };
        if let Some(flight) = flights.get(&digest) {
            return flight.clone();
        }
        if flights.len() >= MAX_FLIGHTS {
            flights.clear();
        }
        let flight = self.flight(token, digest, request);
        flights.insert(digest, flight.clone());
        flight
    }

    /// The lookup: the client IP's lookup budget, then identity; the answer is cached.
    fn flight(&self, token: &str, digest: [u8; 32], request: &HttpRequest) -> Flight {
        let (identity, cache, flights, limiter) = (
            self.identity.clone(),
            Arc::clone(&self.cache),
            Arc::clone(&self.flights),
            self.lookups.clone(),
        );
        let ip = limiter.as_ref().map(|l| l.client_ip(request));
        let token = token.to_owned();
        async move {
            let checked = Self::check_lookup_budget(limiter, ip).await;
            let validated = match checked {
                Ok(()) => identity.validate_session(token.clone()).await,
                Err(refused) => Err(refused),
            };
            let result = match validated {
                Ok(session) => {
                    cache.put(&token, &session);
                    Ok(session)
                }
                Err(error) => {
                    // A token that is invalid now never becomes valid, so remembering the
                    // refusal briefly makes floods of made-up tokens cheap.
                    if error.kind() == ErrorKind::Unauthenticated {
                        cache.put_invalid(&token);
                    }
                    Err(Arc::new(error))
                }
            };
            if let Ok(mut flights) = flights.lock() {
                flights.remove(&digest);
            }
            result
        }
        .boxed()
        .shared()
    }
}

/// The credential a request carries, bearer first. Tokens longer than 256 bytes are ignored.
pub fn credential_of(request: &HttpRequest, cookie_name: &str) -> Option<(String, Credential)> {
    if let Some(value) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?
            .trim();
        return (!token.is_empty() && token.len() <= 256)
            .then(|| (token.to_owned(), Credential::Bearer));
    }
    let token = crate::security::csrf::session_cookie(request.headers(), cookie_name)?;
    (!token.is_empty() && token.len() <= 256).then(|| (token.to_owned(), Credential::Cookie))
}

/// The session middleware (wrap with `actix_web::middleware::from_fn(auth::resolve_session)`).
pub async fn resolve_session(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, ActixError> {
    if let Some(state) = request.app_data::<web::Data<AuthState>>().cloned()
        && !state.ignored.iter().any(|p| request.path().starts_with(p))
        && let Some((token, credential)) = credential_of(request.request(), state.cookie_name())
    {
        match state.validate(&token, request.request()).await {
            Ok(session) => {
                let mut extensions = request.extensions_mut();
                extensions.insert(AuthenticatedUser(session.user_id));
                extensions.insert(Authenticated {
                    user_id: session.user_id,
                    role: session.role,
                    token,
                    credential,
                    session,
                });
            }
            Err(error) if error.kind() == ErrorKind::Unauthenticated => {}
            Err(error) if error.kind() == ErrorKind::RateLimited => {
                let response = crate::security::problem::problem_response(
                    &error,
                    crate::security::request_id::current().as_deref(),
                );
                return Ok(request.into_response(response).map_into_right_body());
            }
            Err(error) => {
                request
                    .extensions_mut()
                    .insert(AuthUnavailable(Arc::new(error)));
            }
        }
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// The error for requests that need a session and have none.
pub fn unauthenticated() -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        "gateway.unauthenticated",
        "Log in to do this.",
    )
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = request.extensions();
        let result = if let Some(authenticated) = extensions.get::<Authenticated>() {
            Ok(authenticated.clone())
        } else if let Some(AuthUnavailable(error)) = extensions.get::<AuthUnavailable>() {
            Err(ApiError(error.public_copy()))
        } else {
            Err(ApiError(unauthenticated()))
        };
        Box::pin(async move { result })
    }
}
