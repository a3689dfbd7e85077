//! Telemetry through its public API: scrubbing, trace propagation over every carrier, the
//! metrics registry, and a full `init` that reports to a local stand-in for an OTLP collector and
//! a Sentry ingest endpoint.

// `allow-unwrap-in-tests` covers test functions only, not the helpers below.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, http::Uri, routing::post};
use df_common::{
    Secret,
    config::{LogFormat, TelemetryConfig},
    telemetry::{self, metrics, propagation},
};
use opentelemetry::trace::{TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use sentry::protocol::{Event, Request};
use tonic::metadata::MetadataMap;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

fn trace_id(span: &Span) -> TraceId {
    span.context().span().span_context().trace_id()
}

/// Runs `f` under a scoped subscriber whose spans are real OpenTelemetry spans.
fn traced<T>(f: impl FnOnce() -> T) -> T {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, f)
}

#[test]
fn scrub_event_removes_credentials_and_token_fields() {
    let mut request = Request::default();
    for (name, value) in [
        ("Cookie", "df_session=s3cr3t-cookie"),
        ("Authorization", "Bearer s3cr3t-bearer"),
        ("Stripe-Signature", "t=1,v1=s3cr3t-sig"),
        ("Accept", "application/json"),
    ] {
        request.headers.insert(name.into(), value.into());
    }
    request.data = Some(r#"{"refresh_token":"s3cr3t-refresh","amount_minor":500}"#.into());
    let mut event = Event {
        request: Some(request),
        ..Default::default()
    };
    event
        .extra
        .insert("ResetToken".into(), "s3cr3t-reset".into());
    event.extra.insert("post_id".into(), "pst_1".into());

    let event = telemetry::scrub_event(event).expect("events are kept");
    let request = event.request.as_ref().unwrap();
    assert!(request.headers.contains_key("Accept"));
    for header in ["Cookie", "Authorization", "Stripe-Signature"] {
        assert!(!request.headers.contains_key(header), "{header} kept");
    }
    assert_eq!(event.extra["post_id"], "pst_1");
    let json = serde_json::to_string(&event).unwrap();
    assert!(!json.contains("s3cr3t"), "{json}");
    assert!(json.contains("amount_minor"));
    assert!(telemetry::is_sensitive_name("X-CSRF-Token"));
    assert!(!telemetry::is_sensitive_name("Idempotency-Key"));
}

#[test]
fn trace_context_survives_every_carrier() {
    traced(|| {
        let outgoing = tracing::info_span!("client call");
        let (headers, metadata, map) = outgoing.in_scope(|| {
            let mut headers = http::HeaderMap::new();
            propagation::inject_current_into_headers(&mut headers);
            let mut metadata = MetadataMap::new();
            propagation::inject_current_into_metadata(&mut metadata);
            let map = propagation::inject_current_into_map();
            (headers, metadata, map)
        });
        let expected = trace_id(&outgoing);
        assert_ne!(expected, TraceId::INVALID);
        assert!(headers.contains_key("traceparent"));
        assert!(metadata.get("traceparent").is_some());

        let via_http = tracing::info_span!("http server");
        assert!(propagation::set_parent_from_headers(&via_http, &headers));
        let via_grpc = tracing::info_span!("grpc server");
        assert!(propagation::set_parent_from_metadata(&via_grpc, &metadata));
        let via_event = tracing::info_span!("event consumer");
        assert!(propagation::set_parent_from_map(&via_event, &map));
        for span in [&via_http, &via_grpc, &via_event] {
            assert_eq!(trace_id(span), expected);
        }

        assert_eq!(
            propagation::extract_from_metadata(&metadata)
                .span()
                .span_context()
                .trace_id(),
            expected
        );

        let unrelated = tracing::info_span!("unrelated");
        assert_ne!(trace_id(&unrelated), expected);
    });
}

#[test]
fn the_grpc_interceptor_adds_the_current_trace() {
    traced(|| {
        let span = tracing::info_span!("call");
        let request = span
            .in_scope(|| propagation::grpc_client_interceptor(tonic::Request::new(())))
            .unwrap();
        let extracted = propagation::extract_from_metadata(request.metadata());
        assert_eq!(extracted.span().span_context().trace_id(), trace_id(&span));
    });
}

#[test]
fn the_registry_renders_registered_metrics() {
    let counter = metrics::counter_vec(
        "df_telemetry_test_events_total",
        "Events seen by the telemetry test.",
        &["outcome"],
    )
    .unwrap();
    counter.with_label_values(&["ok"]).inc_by(3);
    let latency = metrics::histogram(
        "df_telemetry_test_latency_seconds",
        "Latency seen by the telemetry test.",
        metrics::LATENCY_BUCKETS,
    )
    .unwrap();
    latency.observe(0.02);

    let text = metrics::render();
    assert!(
        text.contains("df_telemetry_test_events_total{outcome=\"ok\"} 3"),
        "{text}"
    );
    assert!(text.contains("# HELP df_telemetry_test_events_total Events seen"));
    assert!(text.contains("df_telemetry_test_latency_seconds_count 1"));
    assert!(metrics::CONTENT_TYPE.starts_with("text/plain"));
}

/// Records every POST it receives, standing in for an OTLP collector and Sentry's ingest API.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(String, Bytes)>>>);

impl Collector {
    async fn start() -> (Self, SocketAddr) {
        let collector = Self::default();
        let app = Router::new()
            .route("/v1/traces", post(record))
            .route("/api/{project}/envelope/", post(record))
            .with_state(collector.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (collector, address)
    }

    /// The first body posted to `path` that satisfies `accept`, once it comes.
    async fn wait_for(&self, path: &str, accept: impl Fn(&[u8]) -> bool) -> Bytes {
        df_testkit::eventually_ok(&format!("a body is posted to {path}"), async || {
            let posted = self.0.lock().unwrap();
            let found = posted
                .iter()
                .find(|(seen, body)| seen == path && accept(body));
            match found {
                Some((_, body)) => Ok(body.clone()),
                None => Err(posted.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()),
            }
        })
        .await
    }
}

async fn record(State(collector): State<Collector>, uri: Uri, body: Bytes) {
    collector
        .0
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), body));
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The only test in this binary that touches the process-wide subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_installs_once_exports_traces_and_reports_scrubbed_errors() {
    let (collector, address) = Collector::start().await;
    let config = TelemetryConfig {
        log_format: LogFormat::Json,
        log_filter: "info".into(),
        otlp_endpoint: Some(format!("http://{address}/v1/traces")),
        trace_sample_ratio: 1.0,
        sentry_dsn: Some(Secret::new(format!("http://public@{address}/42"))),
        environment: "test".into(),
    };

    let guard = telemetry::init("telemetry-test", &config).unwrap();
    assert!(guard.is_installed());
    // Later services in the same process neither fail nor replace the first setup, and their
    // guards do not stop it.
    let second = telemetry::init("second-service", &config).unwrap();
    assert!(!second.is_installed());
    drop(second);
    telemetry::init_for_tests();

    let bad = TelemetryConfig {
        log_filter: "info,[".into(),
        ..config.clone()
    };
    assert!(telemetry::init("bad", &bad).is_err());

    let trace_id = {
        let span = tracing::info_span!("checkout", request_id = "req-7");
        let _entered = span.enter();
        tracing::info!(
            session_token = "crumb-s3cr3t",
            "calling the payment provider"
        );
        tracing::error!(
            authorization = "Bearer error-s3cr3t",
            "payment provider refused"
        );
        trace_id(&span)
    };
    assert_ne!(trace_id, TraceId::INVALID);

    let report = collector
        .wait_for("/api/42/envelope/", |body| {
            contains(body, "payment provider refused")
        })
        .await;
    assert!(
        contains(&report, "calling the payment provider"),
        "no breadcrumb"
    );
    assert!(contains(&report, "telemetry-test"), "no service tag");
    assert!(
        !contains(&report, "s3cr3t"),
        "{}",
        String::from_utf8_lossy(&report)
    );

    // Dropping the guard flushes the batch of spans to the collector.
    drop(guard);
    let export = collector
        .wait_for("/v1/traces", |body| contains(body, "checkout"))
        .await;
    assert!(contains(&export, "telemetry-test"), "no service.name");
    // OTLP/protobuf carries the trace id as its 16 raw bytes.
    assert!(
        export
            .windows(16)
            .any(|window| window == trace_id.to_bytes()),
        "the exported span has another trace id"
    );
}
