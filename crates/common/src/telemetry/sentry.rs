//! Error reporting to Sentry: `ERROR` events become Sentry issues with the preceding `INFO` and
//! `WARN` events as breadcrumbs, and everything is scrubbed before it leaves the process.

use std::sync::Arc;

use ::sentry::{
    ClientInitGuard, ClientOptions, Hub,
    integrations::tracing::{BreadcrumbLayer, ErrorLayer},
    types::Dsn,
};
use tracing::{Level, Subscriber};
use tracing_subscriber::{
    Layer,
    filter::{LevelFilter, filter_fn},
    registry::LookupSpan,
};

use super::scrub::{scrub_breadcrumb, scrub_event};
use crate::{Error, Secret};

/// Parses the configured DSN without ever putting it into an error message.
pub(crate) fn parse_dsn(dsn: &Secret<String>) -> Result<Dsn, Error> {
    dsn.expose().parse::<Dsn>().map_err(|_| {
        Error::internal(anyhow::anyhow!(
            "telemetry.sentry_dsn is not a valid Sentry DSN (value hidden)"
        ))
    })
}

/// The client options: scrubbing on, personal data off.
pub(crate) fn options(dsn: Dsn, environment: &str) -> ClientOptions {
    // The options type is non-exhaustive, so it is filled in field by field.
    let mut options = ClientOptions::default();
    options.dsn = Some(dsn);
    options.environment = Some(environment.to_owned().into());
    options.send_default_pii = false;
    options.attach_stacktrace = true;
    options.before_send = Some(Arc::new(scrub_event));
    options.before_breadcrumb = Some(Arc::new(scrub_breadcrumb));
    options
}

/// Starts the process-wide Sentry client and tags every report with the service name.
pub(crate) fn start(service: &'static str, dsn: Dsn, environment: &str) -> ClientInitGuard {
    let guard = ::sentry::init(options(dsn, environment));
    // `init` binds the client to the calling thread's hub only; threads inherit from the main
    // hub, and services start on whatever runtime thread happens to run them.
    let current = Hub::current();
    let main = Hub::main();
    if !Arc::ptr_eq(&current, &main) {
        main.bind_client(current.client());
    }
    for hub in [current, main] {
        hub.configure_scope(|scope| scope.set_tag("service", service));
    }
    guard
}

/// The `tracing` layers feeding Sentry. They talk to whatever Sentry client is bound, so they are
/// harmless before [`start`] (and without a DSN there is simply no client).
pub(crate) fn layer<S>() -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // Breadcrumbs first so that an error event includes the events just before it.
    BreadcrumbLayer::new()
        .with_filter(filter_fn(|metadata| {
            matches!(*metadata.level(), Level::WARN | Level::INFO)
        }))
        .and_then(ErrorLayer::new().with_filter(LevelFilter::ERROR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_dsns_are_rejected_without_echoing_them() {
        let error = parse_dsn(&Secret::new("not a dsn with hunter2".to_owned())).unwrap_err();
        let text = format!("{error:?} {error}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            parse_dsn(&Secret::new(
                "https://public@sentry.example.com/42".to_owned()
            ))
            .is_ok()
        );
    }

    #[test]
    fn options_never_send_personal_data_and_always_scrub() {
        let dsn = parse_dsn(&Secret::new(
            "https://public@sentry.example.com/42".to_owned(),
        ))
        .unwrap();
        let options = options(dsn, "staging");
        assert!(!options.send_default_pii);
        assert_eq!(options.environment.as_deref(), Some("staging"));
        let before_send = options.before_send.unwrap();
        let mut event = ::sentry::protocol::Event::default();
        event.extra.insert("password".into(), "hunter2".into());
        let event = before_send(event).unwrap();
        assert_eq!(event.extra["password"], super::super::scrub::FILTERED);
    }
}
