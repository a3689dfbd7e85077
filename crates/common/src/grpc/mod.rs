//! gRPC plumbing shared by every service: the internal-auth interceptor, the server builder
//! (deadlines, tracing, health, TLS) and the client channel builder (TLS).

mod face;
pub mod metrics;
pub mod tls;
pub mod upstream;

use std::{sync::Arc, time::Duration};

use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::Interceptor,
    transport::{Channel, Endpoint, Server, server::TcpIncoming},
};

use crate::{
    auth::{PRINCIPAL_METADATA, Principal, TokenSigner},
    config::GrpcServerConfig,
    error::Error,
};

/// Verifies the principal token on every call and stores the [`Principal`] in the request's
/// extensions. A call without a valid token never reaches the service.
#[derive(Clone)]
pub struct PrincipalInterceptor {
    signer: Arc<TokenSigner>,
}

impl PrincipalInterceptor {
    /// An interceptor verifying with `signer`'s keys.
    pub fn new(signer: Arc<TokenSigner>) -> Self {
        Self { signer }
    }
}

impl Interceptor for PrincipalInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = request
            .metadata()
            .get(PRINCIPAL_METADATA)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Status::from(Error::new(
                    crate::ErrorKind::Unauthenticated,
                    "common.invalid_principal",
                    "The internal credentials are missing or invalid.",
                ))
            })?;
        let principal = self.signer.verify(token).map_err(Status::from)?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// The verified caller of a request that passed [`PrincipalInterceptor`].
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::from(Error::unauthenticated()))
}

/// Wraps `message` in a request carrying `token` and the current trace context.
pub fn request_with_principal<T>(message: T, token: &str) -> Result<Request<T>, Error> {
    let mut request = Request::new(message);
    let value = MetadataValue::try_from(token)
        .map_err(|_| Error::internal(anyhow::anyhow!("principal token is not valid metadata")))?;
    request.metadata_mut().insert(PRINCIPAL_METADATA, value);
    crate::telemetry::propagation::inject_current_into_metadata(request.metadata_mut());
    Ok(request)
}

/// The largest HTTP/2 frame a peer may send us. HTTP/2's default of 16 KiB cuts a MiB of file
/// bytes (media's reads and uploads) into 64 frames, each written, read and reassembled on its
/// own; peers are our own authenticated services, and a frame is still bounded.
const MAX_FRAME_BYTES: u32 = 1 << 20;

/// A server builder with the deadline, concurrency limit, tracing and (when configured) TLS
/// every service uses.
pub fn server(config: &GrpcServerConfig) -> Result<Server, Error> {
    let builder = match &config.tls {
        Some(tls) => Server::builder()
            .tls_config(tls.load()?)
            .map_err(|e| Error::internal(anyhow::anyhow!("grpc.tls: {e}")))?,
        None => Server::builder(),
    };
    Ok(builder
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .concurrency_limit_per_connection(config.concurrency_limit)
        .max_frame_size(MAX_FRAME_BYTES)
        .trace_fn(|request| {
            let span = tracing::info_span!(
                "grpc",
                method = %request.uri().path(),
                otel.kind = "server",
            );
            crate::telemetry::propagation::set_parent_from_headers(&span, request.headers());
            span
        }))
}

/// A generated gRPC server (`FooServer<impl Foo>`), as tonic's router takes it.
pub trait GrpcService:
    tower::Service<
        http::Request<tonic::body::Body>,
        Response = http::Response<tonic::body::Body>,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + tonic::server::NamedService
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves one internal gRPC service until `shutdown`: behind [`PrincipalInterceptor`] with the
/// keys of `signer`, next to the standard health service (reporting it serving), with the
/// deadlines and tracing of [`server`] and the per-method metrics of [`metrics`]. Returns once
/// in-flight calls have drained.
pub async fn serve_authenticated<S: GrpcService>(
    service_name: &'static str,
    config: &GrpcServerConfig,
    listener: tokio::net::TcpListener,
    service: S,
    signer: Arc<TokenSigner>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<S>().await;
    server(config)?
        .layer(metrics::MetricsLayer::new(service_name))
        .add_service(health_service)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            service,
            PrincipalInterceptor::new(signer),
        ))
        .serve_with_incoming_shutdown(incoming(listener), async move {
            shutdown.cancelled().await;
        })
        .await
        .map_err(Error::internal)
}

/// The incoming stream of a bound listener (tests bind port 0 and read the address first).
pub fn incoming(listener: tokio::net::TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Client channel settings.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// `http://identity:50051`, or `https://identity:50051` with `tls`; empty, the caller's
    /// default for the service.
    pub url: String,
    /// TLS to the service (required by an `https://` URL).
    pub tls: Option<tls::ClientTls>,
    /// Connect timeout.
    pub connect_timeout_ms: u64,
    /// Deadline of each call.
    pub request_timeout_ms: u64,
    /// Whether the caller is not ready while this service is down (its readiness check asks
    /// it); unset, the caller's own default for this service.
    pub gates_readiness: Option<bool>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            tls: None,
            connect_timeout_ms: 1_000,
            request_timeout_ms: 5_000,
            gates_readiness: None,
        }
    }
}

impl crate::config::Validate for ClientConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if Endpoint::from_shared(self.url.clone()).is_err() {
            problems.push(format!("url: `{}` is not a valid URL", self.url));
        }
        match (&self.tls, self.url.starts_with("https://")) {
            (Some(tls), true) => tls.validate(problems),
            (Some(_), false) => problems.push("url: must be https:// when tls is set".into()),
            (None, true) => problems.push("tls: required by an https:// url".into()),
            (None, false) => {}
        }
        crate::config::check_range(
            problems,
            "connect_timeout_ms",
            self.connect_timeout_ms,
            10,
            60_000,
        );
        crate::config::check_range(
            problems,
            "request_timeout_ms",
            self.request_timeout_ms,
            10,
            600_000,
        );
    }
}

/// A lazily connected channel with deadlines (the caller never waits longer than the timeouts),
/// over TLS when configured.
pub fn channel(config: &ClientConfig) -> Result<Channel, Error> {
    let mut endpoint = Endpoint::from_shared(config.url.clone())
        .map_err(|e| Error::internal(anyhow::anyhow!("invalid gRPC url: {e}")))?;
    if let Some(tls) = &config.tls {
        endpoint = endpoint
            .tls_config(tls.load()?)
            .map_err(|e| Error::internal(anyhow::anyhow!("tls: {e}")))?;
    }
    let endpoint = endpoint
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .tcp_nodelay(true)
        .max_frame_size(MAX_FRAME_BYTES)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}
