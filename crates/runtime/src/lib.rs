//! The service kit every DirectFanz gRPC service is written on: Postgres (pool, TLS, migrations),
//! the RabbitMQ event bus (transactional outbox, relay, consumers with an inbox), and their
//! configuration. Kept apart from `df-common` so that the public gateway, which has no database
//! and no bus, compiles neither diesel nor lapin, and a change here does not rebuild it.

mod backoff;
pub mod bus;
pub mod config;
pub mod db;
pub mod erasure;
pub mod jobs;
mod runtime;
pub mod service_config;

pub use runtime::{INBOX_RETENTION, Listeners, Runtime};
pub use service_config::{ServiceBase, ServiceConfig, ServiceSettings};

/// The kit's own tables (outbox, inbox, jobs), in every service's database: run by
/// [`db::Db::run_migrations`] before the service's migrations.
pub const KIT_MIGRATIONS: EmbeddedMigrations = diesel_migrations::embed_migrations!("migrations");

/// Where [`KIT_MIGRATIONS`] come from (the test kit names its database templates after them).
pub const KIT_MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");

use df_common::lifecycle::run_command;
use diesel_migrations::EmbeddedMigrations;
use tokio_util::sync::CancellationToken;

/// The whole `main` of a service binary: `serve` (the default) runs the service until
/// SIGTERM/SIGINT; `migrate` applies the kit's and the service's `migrations` as the schema's
/// owner (`database.migration_url`), grants `database.app_role` its rights and exits — a
/// deployment step before the service starts as that role.
pub async fn run_service<S, F, Fut>(
    migrations: EmbeddedMigrations,
    serve: F,
) -> std::process::ExitCode
where
    S: ServiceSettings,
    F: FnOnce(ServiceConfig<S>, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), df_common::Error>>,
{
    run_command(
        S::SERVICE,
        &["serve", "migrate"],
        |command, config: ServiceConfig<S>, shutdown| async move {
            if command == "migrate" {
                db::Db::connect(&config.base.database)?
                    .run_migrations(migrations)
                    .await?;
                tracing::info!(service = S::SERVICE, "migrations applied");
                Ok(())
            } else {
                serve(config, shutdown).await
            }
        },
    )
    .await
}
