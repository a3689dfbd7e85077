//! OpenTelemetry traces: `tracing` spans become OpenTelemetry spans, exported over OTLP/HTTP.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource, runtime,
    trace::{Sampler, SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use tokio::runtime::{Handle, RuntimeFlavor};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::{Layer, filter::filter_fn, registry::LookupSpan};

use crate::{Error, config::TelemetryConfig};

/// How long one export request may take before it is abandoned.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A tracer provider exporting to `endpoint` in batches from a task on the current Tokio runtime.
///
/// Sampling follows the caller when a request arrives with a sampled or unsampled parent, and
/// samples `trace_sample_ratio` of the traces that start here.
pub(crate) fn otlp_provider(
    service: &'static str,
    endpoint: &str,
    config: &TelemetryConfig,
) -> Result<SdkTracerProvider, Error> {
    // The batch processor spawns its export task right away; without a runtime that would panic.
    Handle::try_current().map_err(|_| {
        Error::internal(anyhow::anyhow!(
            "telemetry: exporting traces needs a Tokio runtime; call telemetry::init inside one"
        ))
    })?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .context("telemetry: building the OTLP span exporter")
        .map_err(Error::internal)?;
    let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio).build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.trace_sample_ratio,
        ))))
        .with_resource(resource(service, &config.environment))
        .build())
}

/// A tracer provider that gives spans real ids but exports nothing: enough for context
/// propagation and trace ids in logs in tests.
pub(crate) fn local_provider(service: &'static str) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(resource(service, "test"))
        .build()
}

fn resource(service: &'static str, environment: &str) -> Resource {
    Resource::builder()
        .with_service_name(service)
        .with_attributes([
            KeyValue::new("deployment.environment", environment.to_owned()),
            // The newer semantic-convention name, for back ends that only read that one.
            KeyValue::new("deployment.environment.name", environment.to_owned()),
        ])
        .build()
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of `provider`.
pub(crate) fn layer<S>(service: &'static str, provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_filter(filter_fn(not_export_machinery))
}

/// Spans and events of the HTTP stack that carries the export itself would otherwise be traced
/// and exported in turn.
fn not_export_machinery(metadata: &Metadata<'_>) -> bool {
    !is_export_machinery(metadata.target())
}

fn is_export_machinery(target: &str) -> bool {
    const EXCLUDED: &[&str] = &["opentelemetry", "hyper", "h2", "reqwest"];
    EXCLUDED.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
    })
}

/// Flushes the remaining spans and stops the exporter without deadlocking the runtime.
///
/// Shutting down waits for the export task, which runs on the Tokio runtime. On a multi-thread
/// runtime the wait moves off the worker; on a current-thread runtime the only worker is the
/// caller, so the wait must happen on another thread and cannot be awaited here.
pub(crate) fn shutdown(provider: SdkTracerProvider) {
    let flavor = Handle::try_current().map(|handle| handle.runtime_flavor());
    match flavor {
        Ok(RuntimeFlavor::MultiThread) => {
            tokio::task::block_in_place(|| report(provider.shutdown()));
        }
        Ok(_) => {
            let spawned = std::thread::Builder::new()
                .name("otel-shutdown".into())
                .spawn(move || report(provider.shutdown()));
            if let Err(error) = spawned {
                tracing::warn!(%error, "telemetry: could not flush traces at shutdown");
            }
        }
        Err(_) => report(provider.shutdown()),
    }
}

fn report(result: opentelemetry_sdk::error::OTelSdkResult) {
    if let Err(error) = result {
        tracing::warn!(%error, "telemetry: flushing traces at shutdown failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_machinery_is_not_traced() {
        let cases = [
            ("hyper_util::client::legacy", true),
            ("hyper", true),
            ("h2::codec", true),
            ("opentelemetry_sdk", true),
            ("reqwest::connect", true),
            ("df_identity::login", false),
            ("hyperion", false),
            ("tower_http::trace", false),
        ];
        for (target, excluded) in cases {
            assert_eq!(is_export_machinery(target), excluded, "{target}");
        }
    }
}
