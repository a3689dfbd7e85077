//! Process lifecycle shared by every service: shutdown on SIGTERM/SIGINT, readiness checks, and
//! the admin listener with `/healthz`, `/readyz` and `/metrics`.

use std::{sync::Arc, time::Duration};

use axum::{Router, http::StatusCode, response::IntoResponse, routing::get};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

/// A token cancelled on SIGTERM or SIGINT. Servers stop accepting, drain and return.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; draining");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

type Check = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// Named dependency checks behind `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl Readiness {
    /// No checks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check; it should answer within a second.
    #[must_use]
    pub fn with_check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()))));
        self
    }

    /// Runs every check concurrently, each bounded to one second.
    pub async fn report(&self) -> (bool, Vec<(&'static str, bool)>) {
        let results =
            futures::future::join_all(self.checks.iter().map(|(name, check)| async move {
                let ok = tokio::time::timeout(Duration::from_secs(1), check())
                    .await
                    .unwrap_or(false);
                (*name, ok)
            }))
            .await;
        (results.iter().all(|(_, ok)| *ok), results)
    }
}

/// The admin router: `/healthz` (alive), `/readyz` (dependencies), `/metrics` (Prometheus).
pub fn admin_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    let (ready, checks) = readiness.report().await;
                    let body = serde_json::json!({
                        "ready": ready,
                        "checks": checks.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                    });
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (status, axum::Json(body)).into_response()
                }
            }),
        )
        .route(
            "/metrics",
            get(|| async {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    crate::telemetry::metrics::render(),
                )
            }),
        )
}

/// Serves the admin router on `listener` until `shutdown` is cancelled.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<(), crate::Error> {
    axum::serve(listener, admin_router(readiness))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(crate::Error::internal)
}

/// A binary's whole configuration: read from the sources, checked, and carrying the telemetry
/// section.
pub trait Configuration: crate::config::Extract + crate::config::Validate {
    /// The telemetry settings.
    fn telemetry(&self) -> &crate::config::TelemetryConfig;
}

/// The whole `main` of a service binary that only serves: load and validate configuration (exit
/// 2 with one line per problem), start telemetry, run `serve` until SIGTERM/SIGINT, and turn the
/// outcome into the exit code.
pub async fn run_service<C, F, Fut>(service: &'static str, serve: F) -> std::process::ExitCode
where
    C: Configuration,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::Error>>,
{
    run_command(service, &["serve"], |_, config, shutdown| {
        serve(config, shutdown)
    })
    .await
}

/// [`run_service`] for a binary that answers several commands (its first argument; none means
/// the first of `commands`): `run` gets the command's name.
pub async fn run_command<C, F, Fut>(
    service: &'static str,
    commands: &[&'static str],
    run: F,
) -> std::process::ExitCode
where
    C: Configuration,
    F: FnOnce(&'static str, C, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::Error>>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.as_slice() {
        [] => commands.first().copied(),
        [one] => commands.iter().copied().find(|c| c == one),
        _ => None,
    };
    let Some(command) = command else {
        eprintln!(
            "usage: {} [{}] (configuration comes from DF_* variables)",
            std::env::args().next().unwrap_or_default(),
            commands.join(" | ")
        );
        return std::process::ExitCode::from(2);
    };
    let config: C = match crate::config::load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return std::process::ExitCode::from(2);
        }
    };
    let _telemetry = match crate::telemetry::init(service, config.telemetry()) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("telemetry: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(command, config, shutdown_on_signals()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(service, command, code = error.code(), cause = ?error.cause(), "service failed");
            std::process::ExitCode::FAILURE
        }
    }
}
