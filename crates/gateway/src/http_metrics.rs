//! Request metrics: `df_gateway_request_duration_seconds{method, route, status}`. Every label
//! comes from a closed set, whatever a client sends: the method is one of the methods the API
//! uses or `other`, the route is a route template or `unmatched` (never the raw path), and the
//! status is one the gateway itself chose.

use std::{sync::LazyLock, time::Instant};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::Method,
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
    let method = method_label(request.method());
    let response = next.call(request).await?;
    if let Some(histogram) = DURATION.as_ref() {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16().to_string();
        histogram
            .with_label_values(&[method, route.as_str(), status.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// The method as a label: the standard methods by name, anything a client made up as `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for made_up in ["BREW", "PROPFIND", "X-1234", "get"] {
            let method = Method::from_bytes(made_up.as_bytes()).unwrap_or(Method::TRACE);
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
    }
}
