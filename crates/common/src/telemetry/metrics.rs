//! Prometheus metrics: one registry per process, served as text on `/metrics`.
//!
//! Names follow `df_<service>_<thing>_<unit>` (`df_gateway_request_duration_seconds`); the helpers
//! refuse other names. Tests and the all-in-one runner start the same service several times in
//! one process, so asking for a metric that already exists returns the registered collector
//! instead of failing: every instance of a service shares its counters, as one process should.
//! Labels must have bounded cardinality (route templates, outcomes), never ids or raw paths.

use std::{
    any::Any,
    collections::HashMap,
    sync::{LazyLock, Mutex, PoisonError},
};

use prometheus::{
    Encoder as _, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry, TextEncoder, core::Collector,
};

use crate::Error;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Buckets for request and call latencies in seconds: 5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

/// Collectors registered through this module, by name, with their label names.
static COLLECTORS: LazyLock<Mutex<HashMap<String, Registered>>> = LazyLock::new(Default::default);

struct Registered {
    labels: Vec<String>,
    collector: Box<dyn Any + Send + Sync>,
}

/// The process-wide registry. Register collectors through the helpers below where possible.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// Builds a conventional metric name: `metric_name("gateway", "request_duration_seconds")` is
/// `df_gateway_request_duration_seconds`.
pub fn metric_name(service: &str, thing_and_unit: &str) -> String {
    format!("df_{service}_{thing_and_unit}")
}

/// A counter named `name`, registered once per process.
pub fn counter(name: &str, help: &str) -> Result<IntCounter, Error> {
    get_or_register(name, &[], || IntCounter::new(name, help))
}

/// A counter with `labels`, registered once per process.
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, Error> {
    get_or_register(name, labels, || {
        IntCounterVec::new(Opts::new(name, help), labels)
    })
}

/// A floating-point gauge (lags, ratios), registered once per process.
pub fn gauge(name: &str, help: &str) -> Result<Gauge, Error> {
    get_or_register(name, &[], || Gauge::new(name, help))
}

/// An integer gauge (backlogs, queue depths), registered once per process.
pub fn int_gauge(name: &str, help: &str) -> Result<IntGauge, Error> {
    get_or_register(name, &[], || IntGauge::new(name, help))
}

/// A histogram with `buckets` (upper bounds, increasing), registered once per process. A second
/// call with the same name returns the first histogram and its buckets.
pub fn histogram(name: &str, help: &str, buckets: &[f64]) -> Result<Histogram, Error> {
    get_or_register(name, &[], || {
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
    })
}

/// A histogram with `labels` and `buckets`, registered once per process. A second call with the
/// same name returns the first histogram and its buckets.
pub fn histogram_vec(
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Result<HistogramVec, Error> {
    get_or_register(name, labels, || {
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )
    })
}

/// Everything in the registry in the Prometheus text format. An encoding failure (which would
/// be a bug) is logged and yields what was encoded before it.
pub fn render() -> String {
    let mut buffer = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&REGISTRY.gather(), &mut buffer) {
        tracing::error!(%error, "metrics: encoding the registry failed");
    }
    String::from_utf8_lossy(&buffer).into_owned()
}

fn get_or_register<C>(
    name: &str,
    labels: &[&str],
    build: impl FnOnce() -> prometheus::Result<C>,
) -> Result<C, Error>
where
    C: Collector + Clone + Send + Sync + 'static,
{
    check_name(name)?;
    let mut collectors = COLLECTORS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(existing) = collectors.get(name) {
        if existing.labels != labels {
            return Err(metric_error(
                name,
                format!(
                    "already registered with labels {:?}, asked for {labels:?}",
                    existing.labels
                ),
            ));
        }
        return existing
            .collector
            .downcast_ref::<C>()
            .cloned()
            .ok_or_else(|| metric_error(name, "already registered as another metric type".into()));
    }
    let collector = build().map_err(|error| metric_error(name, error.to_string()))?;
    REGISTRY
        .register(Box::new(collector.clone()))
        .map_err(|error| metric_error(name, error.to_string()))?;
    collectors.insert(
        name.to_owned(),
        Registered {
            labels: labels.iter().map(|label| (*label).to_owned()).collect(),
            collector: Box::new(collector.clone()),
        },
    );
    Ok(collector)
}

fn check_name(name: &str) -> Result<(), Error> {
    let valid = name.strip_prefix("df_").is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('_')
            && !rest.ends_with('_')
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    if valid {
        Ok(())
    } else {
        Err(metric_error(
            name,
            "names must look like df_<service>_<thing>_<unit> in lower snake case".into(),
        ))
    }
}

fn metric_error(name: &str, problem: String) -> Error {
    Error::internal(anyhow::anyhow!("metric `{name}`: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_twice_returns_the_same_collector() {
        let first = counter_vec(
            "df_test_unit_repeat_total",
            "Repeated registration.",
            &["outcome"],
        )
        .unwrap();
        let second = counter_vec(
            "df_test_unit_repeat_total",
            "Repeated registration.",
            &["outcome"],
        )
        .unwrap();
        first.with_label_values(&["ok"]).inc();
        second.with_label_values(&["ok"]).inc();
        assert_eq!(first.with_label_values(&["ok"]).get(), 2);
    }

    #[test]
    fn conflicting_definitions_are_errors() {
        histogram_vec(
            "df_test_unit_conflict_seconds",
            "Conflicts.",
            &["route"],
            LATENCY_BUCKETS,
        )
        .unwrap();
        assert!(
            histogram_vec(
                "df_test_unit_conflict_seconds",
                "Conflicts.",
                &["method"],
                LATENCY_BUCKETS
            )
            .is_err()
        );
        assert!(counter("df_test_unit_conflict_seconds", "Conflicts.").is_err());
    }

    #[test]
    fn names_outside_the_convention_are_refused() {
        for name in [
            "requests_total",
            "df_",
            "df_Gateway_total",
            "df_gw-req_total",
            "df__x",
        ] {
            let error = counter(name, "Bad name.").unwrap_err();
            assert_eq!(error.code(), "common.internal", "{name}");
        }
        assert_eq!(
            metric_name("gateway", "request_duration_seconds"),
            "df_gateway_request_duration_seconds"
        );
    }

    #[test]
    fn bad_buckets_are_errors() {
        assert!(histogram("df_test_unit_buckets_seconds", "Bad buckets.", &[1.0, 0.5]).is_err());
    }
}
