//! The public HTTP API of DirectFanz (actix-web). It authenticates clients, enforces the edge's
//! security policies (headers, CSRF, CORS, body limits, rate limits), maps errors to problem
//! documents and forwards to the internal services over gRPC. It holds no business rules and no
//! durable state.

pub mod auth;
pub mod config;
pub mod cors;
pub mod http_metrics;
pub mod routes;
pub mod security;
pub mod upstream;

use std::{sync::Arc, time::Duration};

use actix_web::{App, HttpServer, middleware::from_fn, web};
use df_common::{
    Error,
    auth::TokenSigner,
    cache::Cache,
    lifecycle::{Readiness, serve_admin},
};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::GatewayConfig;
use security::{Csrf, RateLimit, Security};

/// Name of this service in logs and metrics.
pub const SERVICE: &str = "gateway";

/// The sockets the gateway serves on.
pub struct Listeners {
    /// Public HTTP.
    pub http: std::net::TcpListener,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &GatewayConfig) -> Result<Self, Error> {
        Ok(Self {
            http: std::net::TcpListener::bind(config.http.listen).map_err(Error::internal)?,
            admin: tokio::net::TcpListener::bind(config.admin.listen)
                .await
                .map_err(Error::internal)?,
        })
    }
}

/// Runs the gateway until `shutdown` is cancelled, then drains in-flight requests and returns.
pub async fn serve(
    config: GatewayConfig,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let signer = Arc::new(TokenSigner::from_config(&config.internal_auth, SERVICE)?);
    let identity = upstream::Identity::new(&config.upstream("identity")?, Arc::clone(&signer))?;
    let payments = upstream::Payments::new(&config.upstream("payments")?, Arc::clone(&signer))?;
    let media = upstream::Media::new(&config.upstream("media")?, signer)?;
    // Ready when every upstream that gates readiness serves; Redis is optional (local limits).
    // Payments does not gate it by default: while it is down, its routes answer 503 but
    // sign-up, login and everything else keep working, and webhooks get the 503 that makes
    // the provider retry.
    let readiness = Readiness::new();
    let readiness = upstream_gate(readiness, &config, "identity", &identity.0)?;
    let readiness = upstream_gate(readiness, &config, "payments", &payments.0)?;
    let readiness = upstream_gate(readiness, &config, "media", &media.0)?;
    let server = build_server(&config, listeners.http, identity, payments, media)?;
    let handle = server.handle();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        stopper.cancelled().await;
        handle.stop(true).await;
    });
    let admin = tokio::spawn(serve_admin(listeners.admin, readiness, shutdown.clone()));
    tracing::info!(service = SERVICE, "serving");
    let result = server.await.map_err(Error::internal);
    shutdown.cancel();
    let _ = admin.await;
    tracing::info!(service = SERVICE, "stopped");
    result
}

/// `readiness` with a check of `upstream`'s health when its settings say it gates readiness.
fn upstream_gate<C: Clone + Send + Sync + 'static>(
    readiness: Readiness,
    config: &GatewayConfig,
    name: &'static str,
    upstream: &upstream::Upstream<C>,
) -> Result<Readiness, Error> {
    if config.upstream(name)?.gates_readiness != Some(true) {
        return Ok(readiness);
    }
    let upstream = upstream.clone();
    Ok(readiness.with_check(name, move || {
        let upstream = upstream.clone();
        async move { upstream.is_serving().await }
    }))
}

/// Builds the HTTP server (a plain function: the app factory is not `Send`, so it must not live
/// across an `.await`).
fn build_server(
    config: &GatewayConfig,
    listener: std::net::TcpListener,
    identity: upstream::Identity,
    payments: upstream::Payments,
    media: upstream::Media,
) -> Result<actix_web::dev::Server, Error> {
    let cache = Cache::connect(&config.redis)?;
    let security = Security::from_config(&config.security, Some(cache))
        .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let auth_state = web::Data::new(
        auth::AuthState::new(
            identity.clone(),
            config.security.session_cookie_name.clone(),
        )
        .with_lookup_limit(Arc::clone(&security.limiter))
        .ignoring(routes::SESSIONLESS_PREFIXES),
    );
    let identity = web::Data::new(identity);
    let payments = web::Data::new(payments);
    let media = web::Data::new(media);
    let media_store = web::Data::new(routes::media::store::MediaStore::new(
        config.media_store.root.as_deref(),
    ));
    let csrf_data = web::Data::from(Arc::clone(&security.csrf));
    let proxies = web::Data::from(Arc::clone(&security.trusted_proxies));
    let limiter = web::Data::from(Arc::clone(&security.limiter));
    let cors_policy = web::Data::new(Arc::new(cors::CorsPolicy::new(
        &config.security.allowed_origins,
    )));
    let max_body = security.max_body_bytes;

    let mut server = HttpServer::new(move || {
        let security = security.clone();
        App::new()
            .app_data(security::problem::payload_config(max_body))
            .app_data(security::query_config())
            .app_data(security::path_config())
            .app_data(identity.clone())
            .app_data(payments.clone())
            .app_data(media.clone())
            .app_data(media_store.clone())
            .app_data(auth_state.clone())
            .app_data(csrf_data.clone())
            .app_data(proxies.clone())
            .app_data(limiter.clone())
            .app_data(cors_policy.clone())
            .service(
                web::scope("/v1/auth")
                    .wrap(from_fn(
                        RateLimit::new(Arc::clone(&security.limiter), "auth").layer(),
                    ))
                    .configure(routes::auth_scope),
            )
            // Before `/v1`, which would otherwise take these paths and answer 404.
            .service(
                web::scope("/v1/webhooks")
                    .wrap(from_fn(
                        RateLimit::new(Arc::clone(&security.limiter), "webhook").layer(),
                    ))
                    .configure(routes::webhook_scope),
            )
            .service(
                web::scope("/v1")
                    .wrap(from_fn(
                        RateLimit::new(Arc::clone(&security.limiter), "api").layer(),
                    ))
                    .configure(routes::api_scope)
                    .route("/openapi.json", web::get().to(routes::openapi::handle)),
            )
            .default_service(web::to(routes::unrouted))
            .wrap(from_fn(auth::resolve_session))
            .wrap(from_fn(
                Csrf::new(Arc::clone(&security.csrf))
                    .exempt(routes::SESSIONLESS_PREFIXES)
                    .layer(),
            ))
            .wrap(from_fn(cors::handle))
            .wrap(from_fn(http_metrics::record))
            .wrap(from_fn(security::request_id::assign))
            .wrap(from_fn(security.headers.clone().layer()))
    })
    .keep_alive(Duration::from_secs(config.http.keep_alive_secs))
    .client_request_timeout(Duration::from_millis(config.http.client_request_timeout_ms))
    .shutdown_timeout(config.http.shutdown_timeout_secs)
    .disable_signals();
    if config.http.workers > 0 {
        server = server.workers(config.http.workers);
    }
    Ok(server.listen(listener).map_err(Error::internal)?.run())
}
