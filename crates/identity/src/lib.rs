//! Identity service: users and roles, credentials (argon2id), sessions, login throttling and
//! lockout, email verification and password reset, account status.
//!
//! `serve` runs the whole service on listeners the caller bound, so the binary, the all-in-one
//! dev runner and the end-to-end tests start exactly the same code.

pub mod account_mail;
pub mod accounts;
pub mod config;
pub mod errors;
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
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod tokens;
pub mod validation;

use std::sync::Arc;

use df_common::{Error, clock::Clock, keyring::Keyring, worker::spawn_worker};
use df_proto::identity::v1::identity_server::IdentityServer;
use df_runtime::{Listeners, Runtime, jobs::FirstRun};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use tokio_util::sync::CancellationToken;

pub use config::IdentityConfig;

/// The embedded migrations of `df_identity`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long the mail workers wait for a wake-up before looking for work anyway (work queued by
/// another replica, retries coming due).
const WORKER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Name of this service in logs, metrics and on the bus.
pub const SERVICE: &str = "identity";

/// Runs identity until `shutdown` is cancelled, then drains and returns.
pub async fn serve(
    config: IdentityConfig,
    listeners: Listeners,
    clock: Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let mut runtime = Runtime::start(SERVICE, &config.base, MIGRATIONS, clock, shutdown).await?;
    let settings = config.own;
    let db = runtime.db().clone();
    let mailer = mail::build_mailer(&settings.mail)?;
    let keyring = Keyring::from_config(&settings.mail.encryption, mail_queue::ENCRYPTION_SECTION)
        .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let mail_queue = mail_queue::MailQueue::new(keyring);
    runtime.keep({
        let (db, queue) = (db.clone(), mail_queue.clone());
        spawn_worker(
            "mail_sender",
            mail_queue.waker().clone(),
            WORKER_IDLE,
            runtime.shutdown().clone(),
            move || {
                let (db, queue, mailer) = (db.clone(), queue.clone(), Arc::clone(&mailer));
                async move { mail_queue::send_due(&db, &queue, mailer.as_ref()).await }
            },
        )
    });
    let housekeeping_round = {
        let (db, clock) = (db.clone(), runtime.clock().clone());
        move || {
            let (db, clock) = (db.clone(), clock.clone());
            async move { housekeeping::run_once(&db, &clock).await.map(drop) }
        }
    };
    runtime.jobs().every(
        "identity.housekeeping",
        housekeeping::INTERVAL,
        FirstRun::Now,
        housekeeping_round,
    );
    let breached =
        password::breached::BreachedPasswordChecker::from_config(&settings.breached_passwords)?;
    let sessions = sessions::Sessions::new(
        db.clone(),
        runtime.cache().clone(),
        settings.identity.sessions.clone(),
    );
    let accounts = accounts::Accounts::new(
        db,
        runtime.cache().clone(),
        sessions,
        settings.identity.clone(),
        breached,
        mail_queue,
        runtime.relay().clone(),
    );
    runtime.keep({
        let accounts = accounts.clone();
        spawn_worker(
            "account_mail",
            accounts.mail_requests().clone(),
            WORKER_IDLE,
            runtime.shutdown().clone(),
            move || {
                let accounts = accounts.clone();
                async move { account_mail::compose_due(&accounts).await }
            },
        )
    });
    let identity = IdentityServer::new(grpc_service::IdentityService::new(accounts))
        .max_decoding_message_size(config.base.grpc.max_message_bytes);
    runtime.serve(listeners, identity).await
}
