//! Identity service: users and roles, credentials (argon2id), sessions, login throttling and
//! lockout, email verification and password reset, account status.
//!
//! `serve` runs the whole service on listeners the caller bound, so the binary, the all-in-one
//! dev runner and the end-to-end tests start exactly the same code.

pub mod account_mail;
pub mod accounts;
pub mod config;
pub mod events;
pub mod grpc_service;
pub mod housekeeping;
pub mod login;
pub mod mail;
pub mod mail_queue;
pub mod models;
pub mod one_time;
pub mod outbound;
pub mod password;
pub mod schema;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod validation;

use std::sync::Arc;

use df_common::{
    Error,
    auth::TokenSigner,
    cache::Cache,
    keyring::Keyring,
    lifecycle::{Readiness, serve_admin},
    worker::spawn_worker,
};
use df_proto::identity::v1::identity_server::IdentityServer;
use df_runtime::{
    bus::{Bus, relay::OutboxRelay},
    db::Db,
};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::IdentityConfig;

/// The embedded migrations of `df_identity`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long the mail workers wait for a wake-up before looking for work anyway (work queued by
/// another replica, retries coming due).
const WORKER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Name of this service in logs, metrics and on the bus.
pub const SERVICE: &str = "identity";

/// The sockets identity serves on.
pub struct Listeners {
    /// gRPC.
    pub grpc: TcpListener,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &IdentityConfig) -> Result<Self, Error> {
        Ok(Self {
            grpc: TcpListener::bind(config.grpc.listen)
                .await
                .map_err(Error::internal)?,
            admin: TcpListener::bind(config.admin.listen)
                .await
                .map_err(Error::internal)?,
        })
    }
}

/// Runs identity until `shutdown` is cancelled, then drains and returns.
pub async fn serve(
    config: IdentityConfig,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let db = Db::connect(&config.database)?;
    if config.database.run_migrations {
        db.run_migrations(MIGRATIONS).await?;
    }
    let cache = Cache::connect(&config.redis)?;
    let bus = Bus::connect(&config.bus, SERVICE);
    let (relay, relay_task) =
        OutboxRelay::spawn(db.clone(), bus.clone(), &config.bus, shutdown.clone());
    let mailer = mail::build_mailer(&config.mail)?;
    let keyring = Keyring::from_config(&config.mail.encryption, mail_queue::ENCRYPTION_SECTION)
        .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let mail_queue = mail_queue::MailQueue::new(keyring);
    let mail_task = {
        let (db, queue) = (db.clone(), mail_queue.clone());
        spawn_worker(
            "mail_sender",
            mail_queue.waker().clone(),
            WORKER_IDLE,
            shutdown.clone(),
            move || {
                let (db, queue, mailer) = (db.clone(), queue.clone(), Arc::clone(&mailer));
                async move { mail_queue::send_due(&db, &queue, mailer.as_ref()).await }
            },
        )
    };
    let housekeeping_task = housekeeping::spawn(db.clone(), shutdown.clone());
    let breached =
        password::breached::BreachedPasswordChecker::from_config(&config.breached_passwords)?;
    let sessions =
        sessions::Sessions::new(db.clone(), cache.clone(), config.identity.sessions.clone());
    let accounts = accounts::Accounts::new(
        db.clone(),
        cache,
        sessions,
        config.identity.clone(),
        breached,
        mail_queue,
        relay,
    );
    let mail_requests_task = {
        let accounts = accounts.clone();
        spawn_worker(
            "account_mail",
            accounts.mail_requests().clone(),
            WORKER_IDLE,
            shutdown.clone(),
            move || {
                let accounts = accounts.clone();
                async move { account_mail::compose_due(&accounts).await }
            },
        )
    };

    let signer = Arc::new(TokenSigner::from_config(&config.internal_auth, SERVICE)?);
    let identity = IdentityServer::new(grpc_service::IdentityService::new(accounts))
        .max_decoding_message_size(config.grpc.max_message_bytes);
    let readiness = df_runtime::db::PostgresReadiness::with_postgres(Readiness::new(), &db);
    let admin = tokio::spawn(serve_admin(listeners.admin, readiness, shutdown.clone()));
    tracing::info!(service = SERVICE, "serving");
    df_common::grpc::serve_authenticated(
        &config.grpc,
        listeners.grpc,
        identity,
        signer,
        shutdown.clone(),
    )
    .await?;
    shutdown.cancel();
    let _ = tokio::join!(
        relay_task,
        mail_task,
        mail_requests_task,
        housekeeping_task,
        admin
    );
    tracing::info!(service = SERVICE, "stopped");
    Ok(())
}
