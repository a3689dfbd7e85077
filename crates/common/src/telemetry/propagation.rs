//! Carries a trace across process boundaries in W3C Trace Context form (`traceparent`,
//! `tracestate`): HTTP headers, gRPC metadata, and string maps (a bus event envelope's
//! `trace_context`; AMQP headers go through a map in `df-runtime`).
//!
//! The sending side injects the current span's context into the carrier; the receiving side
//! creates its span and makes the extracted context that span's parent *before entering it*
//! (a span that has started can no longer change parent).
//!
//! These functions use the Trace Context format directly rather than the global propagator, so
//! that propagation works the same in every process, including tests that never call
//! [`init`](super::init).

use std::collections::HashMap;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{KeyRef, MetadataKey, MetadataMap, MetadataValue};
use tracing::Span;
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};

/// The OpenTelemetry context of the current `tracing` span (empty when there is none or when no
/// OpenTelemetry layer is installed).
pub fn current_context() -> Context {
    Span::current().context()
}

/// Makes `parent` the parent of `span`. Returns whether it did: nothing happens when `parent`
/// holds no valid remote span (the span keeps its usual parent), when no OpenTelemetry layer is
/// installed, or when `span` has already been entered.
pub fn set_parent(span: &Span, parent: Context) -> bool {
    if !parent.span().span_context().is_valid() {
        return false;
    }
    match span.set_parent(parent) {
        Ok(()) => true,
        Err(SetParentError::AlreadyStarted) => {
            tracing::debug!("trace context arrived after the span started; it was not linked");
            false
        }
        Err(_) => false,
    }
}

fn inject(context: &Context, injector: &mut dyn Injector) {
    TraceContextPropagator::new().inject_context(context, injector);
}

fn extract(extractor: &dyn Extractor) -> Context {
    TraceContextPropagator::new().extract(extractor)
}

// === HTTP headers ===

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes `context` into HTTP headers.
pub fn inject_into_headers(context: &Context, headers: &mut http::HeaderMap) {
    inject(context, &mut HeaderInjector(headers));
}

/// Writes the current span's context into HTTP headers (an outgoing request).
pub fn inject_current_into_headers(headers: &mut http::HeaderMap) {
    inject_into_headers(&current_context(), headers);
}

/// Reads a context from HTTP headers (an incoming request).
pub fn extract_from_headers(headers: &http::HeaderMap) -> Context {
    extract(&HeaderExtractor(headers))
}

/// Continues the trace of an incoming HTTP request in `span`; see [`set_parent`].
pub fn set_parent_from_headers(span: &Span, headers: &http::HeaderMap) -> bool {
    set_parent(span, extract_from_headers(headers))
}

// === gRPC metadata ===

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(|key| match key {
                KeyRef::Ascii(key) => key.as_str(),
                KeyRef::Binary(key) => key.as_str(),
            })
            .collect()
    }
}

/// Writes `context` into gRPC metadata.
pub fn inject_into_metadata(context: &Context, metadata: &mut MetadataMap) {
    inject(context, &mut MetadataInjector(metadata));
}

/// Writes the current span's context into gRPC metadata (an outgoing call).
pub fn inject_current_into_metadata(metadata: &mut MetadataMap) {
    inject_into_metadata(&current_context(), metadata);
}

/// Reads a context from gRPC metadata (an incoming call).
pub fn extract_from_metadata(metadata: &MetadataMap) -> Context {
    extract(&MetadataExtractor(metadata))
}

/// Continues the trace of an incoming gRPC call in `span`; see [`set_parent`].
pub fn set_parent_from_metadata(span: &Span, metadata: &MetadataMap) -> bool {
    set_parent(span, extract_from_metadata(metadata))
}

/// A tonic client interceptor that adds the current span's context to every call:
/// `FooClient::with_interceptor(channel, propagation::grpc_client_interceptor)`.
#[allow(clippy::result_large_err)] // The signature is fixed by tonic's `Interceptor`.
pub fn grpc_client_interceptor(
    mut request: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    inject_current_into_metadata(request.metadata_mut());
    Ok(request)
}

// === string maps (the event envelope's `trace_context`) ===

/// The map type of a trace context in an event (what prost generates for `map<string, string>`).
pub type StringMap = HashMap<String, String>;

struct MapInjector<'a>(&'a mut StringMap);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct MapExtractor<'a>(&'a StringMap);

impl Extractor for MapExtractor<'_> {
    /// Exact key first; otherwise case-insensitively, for producers that capitalize keys as
    /// HTTP header names.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(candidate, _)| candidate.eq_ignore_ascii_case(key))
                    .map(|(_, value)| value)
            })
            .map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The current span's context as a new map, for an event envelope's `trace_context`. Empty when
/// there is no traced span.
pub fn inject_current_into_map() -> StringMap {
    let mut map = StringMap::new();
    inject(&current_context(), &mut MapInjector(&mut map));
    map
}

/// Continues the trace of a received event in `span`; see [`set_parent`].
pub fn set_parent_from_map(span: &Span, map: &StringMap) -> bool {
    set_parent(span, extract(&MapExtractor(map)))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceId, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn trace_id(span: &Span) -> TraceId {
        span.context().span().span_context().trace_id()
    }

    /// Runs `f` under a subscriber whose spans are real OpenTelemetry spans.
    fn traced<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn maps_round_trip_and_accept_capitalized_keys() {
        traced(|| {
            let outgoing = tracing::info_span!("publish");
            let map = outgoing.in_scope(inject_current_into_map);
            assert!(map.contains_key("traceparent"), "{map:?}");

            let capitalized: StringMap = map
                .iter()
                .map(|(key, value)| (key.to_uppercase(), value.clone()))
                .collect();
            let incoming = tracing::info_span!("consume");
            assert!(set_parent_from_map(&incoming, &capitalized));
            assert_eq!(trace_id(&incoming), trace_id(&outgoing));
        });
    }

    #[test]
    fn an_empty_carrier_leaves_the_span_alone() {
        traced(|| {
            let incoming = tracing::info_span!("consume");
            assert!(!set_parent_from_map(&incoming, &HashMap::new()));
            assert_ne!(trace_id(&incoming), TraceId::INVALID);
        });
    }

    #[test]
    fn without_an_opentelemetry_layer_nothing_is_injected() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("plain");
            let map = span.in_scope(inject_current_into_map);
            assert!(map.is_empty());
        });
    }

    #[test]
    fn a_started_span_keeps_its_trace() {
        traced(|| {
            let outgoing = tracing::info_span!("publish");
            let map = outgoing.in_scope(inject_current_into_map);
            let incoming = tracing::info_span!("consume");
            incoming.in_scope(|| {});
            assert!(!set_parent_from_map(&incoming, &map));
            assert_ne!(trace_id(&incoming), trace_id(&outgoing));
        });
    }
}
