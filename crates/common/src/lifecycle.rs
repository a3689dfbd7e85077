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

    /// Adds the check every database-owning service has: Postgres answers.
    #[must_use]
    pub fn with_postgres(self, db: &crate::db::Db) -> Self {
        let db = db.clone();
        self.with_check("postgres", move || {
            let db = db.clone();
            async move { db.ping().await }
        })
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

/// A service configuration that carries the telemetry section.
pub trait ServiceConfig: serde::de::DeserializeOwned + crate::config::Validate {
    /// The telemetry settings.
    fn telemetry(&self) -> &crate::config::TelemetryConfig;

    /// The database settings of a service that has a database.
    fn database(&self) -> Option<&crate::config::DatabaseConfig> {
        None
    }
}

/// What a service binary was asked to do.
enum Command {
    /// Serve until told to stop.
    Serve,
    /// Run the database migrations (as the schema's owner) and grant the application role its
    /// rights, then exit: a deployment step before the service starts as that role.
    Migrate,
}

fn command() -> Result<Command, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => Ok(Command::Serve),
        ["migrate"] => Ok(Command::Migrate),
        _ => Err(format!(
            "usage: {} [serve | migrate] (configuration comes from DF_* variables)",
            std::env::args().next().unwrap_or_default()
        )),
    }
}

/// The whole `main` of a service binary: load and validate configuration (exit 2 with one line
/// per problem), start telemetry, then either run `serve` until SIGTERM/SIGINT or, given the
/// argument `migrate`, apply `migrations` and exit; the outcome becomes the exit code.
pub async fn run_service<C, F, Fut>(
    service: &'static str,
    migrations: Option<diesel_migrations::EmbeddedMigrations>,
    serve: F,
) -> std::process::ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::Error>>,
{
    let command = match command() {
        Ok(command) => command,
        Err(usage) => {
            eprintln!("{usage}");
            return std::process::ExitCode::from(2);
        }
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
    let outcome = match command {
        Command::Serve => serve(config, shutdown_on_signals()).await,
        Command::Migrate => migrate(service, config.database(), migrations).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(service, code = error.code(), cause = ?error.cause(), "service failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn migrate(
    service: &'static str,
    database: Option<&crate::config::DatabaseConfig>,
    migrations: Option<diesel_migrations::EmbeddedMigrations>,
) -> Result<(), crate::Error> {
    let (Some(database), Some(migrations)) = (database, migrations) else {
        tracing::info!(service, "no database: nothing to migrate");
        return Ok(());
    };
    crate::db::Db::connect(database)?
        .run_migrations(migrations)
        .await?;
    tracing::info!(service, "migrations applied");
    Ok(())
}
