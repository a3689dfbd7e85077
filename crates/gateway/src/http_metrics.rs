//! Request metrics: `df_gateway_request_duration_seconds{method, route, status}`, labelled by
//! route template (never the raw path) so cardinality stays bounded.

use std::{sync::LazyLock, time::Instant};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};
use df_common::telemetry::metrics;
use prometheus::HistogramVec;

static DURATION: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    metrics::histogram_vec(
        "df_gateway_request_duration_seconds",
        "Time to answer a public HTTP request.",
        &["method", "route", "status"],
        metrics::LATENCY_BUCKETS,
    )
    .ok()
});

/// The middleware (wrap with `actix_web::middleware::from_fn(http_metrics::record)`).
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let response = next.call(request).await?;
    if let Some(histogram) = DURATION.as_ref() {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16().to_string();
        histogram
            .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}
