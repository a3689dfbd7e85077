//! Logs, traces, metrics and error reports for every service.
//!
//! [`init`] installs, once per process, the global `tracing` subscriber: a filter from
//! `telemetry.log_filter`, JSON or readable log lines ([`logs`]), an OpenTelemetry layer that
//! exports spans over OTLP/HTTP when an endpoint is configured, and Sentry error reporting when a
//! DSN is configured (scrubbed by [`scrub_event`]). [`propagation`] carries traces through HTTP,
//! gRPC and AMQP; [`metrics`] holds the Prometheus registry served on `/metrics`.

pub mod logs;
pub mod metrics;
pub mod propagation;
mod scrub;
mod sentry;
mod tracing_otel;

use std::{
    fmt,
    sync::{
        Mutex, Once, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::Layered, layer::SubscriberExt, util::SubscriberInitExt,
};

pub use scrub::{FILTERED, SCRUBBED_HEADERS, is_sensitive_name, scrub_breadcrumb, scrub_event};

use crate::{
    Error,
    config::{LogFormat, TelemetryConfig},
};

/// Serializes [`init`] so that two services starting at once cannot both install half a setup.
static INIT: Mutex<()> = Mutex::new(());

/// Set once this module has installed the global subscriber. (`tracing`'s own "has been set"
/// flag also turns on for scoped subscribers, which tests use freely, so it cannot be used.)
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The subscriber the log layer sits on.
type Base = Layered<EnvFilter, Registry>;

/// Keeps telemetry running; dropping it flushes pending spans and error reports.
///
/// Only the guard of the [`init`] call that installed telemetry does anything; later calls in the
/// same process return an inactive guard.
#[must_use = "dropping the guard stops trace export and error reporting"]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    sentry: Option<::sentry::ClientInitGuard>,
    installed: bool,
}

impl TelemetryGuard {
    fn inactive() -> Self {
        Self {
            tracer_provider: None,
            sentry: None,
            installed: false,
        }
    }

    /// Whether this guard belongs to the call that installed the process's telemetry.
    pub fn is_installed(&self) -> bool {
        self.installed
    }
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("installed", &self.installed)
            .field("exports_traces", &self.tracer_provider.is_some())
            .field("reports_errors", &self.sentry.is_some())
            .finish()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take() {
            tracing_otel::shutdown(provider);
        }
        // Dropping the Sentry guard flushes queued reports (bounded by the client's timeout).
        self.sentry.take();
    }
}

/// Installs logs, traces and error reporting for `service` from `config`.
///
/// The first call in a process installs everything; later calls (tests and the all-in-one
/// runner start many services in one process) leave it in place and return an inactive guard.
/// Must run inside a Tokio runtime when `otlp_endpoint` is set, because spans are exported by a
/// task on that runtime. Keep the guard alive until the service stops.
///
/// Fails on an invalid log filter, OTLP endpoint or Sentry DSN; the DSN never appears in the
/// error.
pub fn init(service: &'static str, config: &TelemetryConfig) -> Result<TelemetryGuard, Error> {
    crate::tls::install_crypto_provider();
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|error| {
        Error::internal(anyhow::anyhow!(
            "telemetry.log_filter `{}` is not a valid filter: {error}",
            config.log_filter
        ))
    })?;
    let dsn = config
        .sentry_dsn
        .as_ref()
        .map(sentry::parse_dsn)
        .transpose()?;

    let _serialized = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(TelemetryGuard::inactive());
    }

    let tracer_provider = config
        .otlp_endpoint
        .as_deref()
        .map(|endpoint| tracing_otel::otlp_provider(service, endpoint, config))
        .transpose()?;
    let log_layer: Box<dyn Layer<Base> + Send + Sync> = match config.log_format {
        LogFormat::Json => Box::new(logs::json_layer(service, std::io::stdout)),
        LogFormat::Pretty => Box::new(logs::pretty_layer()),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(log_layer)
        .with(
            tracer_provider
                .as_ref()
                .map(|provider| tracing_otel::layer(service, provider)),
        )
        .with(dsn.is_some().then(sentry::layer))
        .try_init();
    if installed.is_err() {
        // Another subscriber was installed by other means; it stays.
        if let Some(provider) = tracer_provider {
            tracing_otel::shutdown(provider);
        }
        return Ok(TelemetryGuard::inactive());
    }

    INSTALLED.store(true, Ordering::Release);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    if let Some(provider) = &tracer_provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    let sentry = dsn.map(|dsn| sentry::start(service, dsn, &config.environment));
    tracing::debug!(
        service,
        traces = tracer_provider.is_some(),
        error_reports = sentry.is_some(),
        "telemetry installed"
    );
    Ok(TelemetryGuard {
        tracer_provider,
        sentry,
        installed: true,
    })
}

/// Installs, once per process, a subscriber for tests: readable lines through the test harness
/// (shown for failing tests), filtered by `RUST_LOG` (default `info`), with OpenTelemetry spans
/// that are never exported, so trace propagation and trace ids work as in production. Does
/// nothing if a subscriber is already installed.
pub fn init_for_tests() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        crate::tls::install_crypto_provider();
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let provider = tracing_otel::local_provider("test");
        let installed = tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(logs::redacting_fields())
                    .with_test_writer(),
            )
            .with(tracing_otel::layer("test", &provider))
            .try_init();
        if installed.is_ok() {
            INSTALLED.store(true, Ordering::Release);
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            opentelemetry::global::set_tracer_provider(provider);
        }
    });
}
