//! Per-method metrics of a gRPC server: `df_grpc_server_handled_total{service, method, code}`
//! and `df_grpc_server_handling_seconds{service, method}`.
//!
//! The status is read from the response headers: tonic answers a failed unary call with a
//! trailers-only response, whose `grpc-status` is a header, and a successful one with the status
//! in the trailers, so a response without the header is `Ok`. Every call that names no method
//! the server knows answers `Unimplemented`; those are counted under the method `other`, so a
//! client cannot grow the label set.

use std::{
    sync::LazyLock,
    task::{Context, Poll},
    time::Instant,
};

use futures::future::BoxFuture;
use prometheus::{HistogramVec, IntCounterVec};

use crate::telemetry::metrics;

static HANDLED: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    metrics::counter_vec(
        "df_grpc_server_handled_total",
        "gRPC calls answered, by method and status code.",
        &["service", "method", "code"],
    )
    .ok()
});

static HANDLING_SECONDS: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    metrics::histogram_vec(
        "df_grpc_server_handling_seconds",
        "Time from a gRPC call's arrival to its response headers, by method.",
        &["service", "method"],
        metrics::LATENCY_BUCKETS,
    )
    .ok()
});

/// Wraps a gRPC server's services with the metrics of `service`.
#[derive(Clone, Copy, Debug)]
pub struct MetricsLayer {
    service: &'static str,
}

impl MetricsLayer {
    /// Metrics labelled `service`.
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metered {
            inner,
            service: self.service,
        }
    }
}

/// A service whose calls are counted and timed.
#[derive(Clone, Debug)]
pub struct Metered<S> {
    inner: S,
    service: &'static str,
}

impl<S, B, ResponseBody> tower::Service<http::Request<B>> for Metered<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let service = self.service;
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let code = match &result {
                Ok(response) => status_of(response.headers()),
                Err(_) => tonic::Code::Unknown,
            };
            record(service, &method, code, started.elapsed().as_secs_f64());
            result
        })
    }
}

fn status_of(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from)
}

fn record(service: &str, path: &str, code: tonic::Code, seconds: f64) {
    let method = if code == tonic::Code::Unimplemented {
        "other"
    } else {
        path
    };
    if let Some(handled) = HANDLED.as_ref() {
        handled
            .with_label_values(&[service, method, &format!("{code:?}")])
            .inc();
    }
    if let Some(histogram) = HANDLING_SECONDS.as_ref() {
        histogram
            .with_label_values(&[service, method])
            .observe(seconds);
    }
}
