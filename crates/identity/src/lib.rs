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
pub mod ids;
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

use df_common::{Error, clock::Clock, keyring::Keyring};
use df_proto::identity::v1::identity_server::IdentityServer;
use df_runtime::{Listeners, Runtime, jobs::FirstRun};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use tokio_util::sync::CancellationToken;

pub use config::IdentityConfig;

/// The embedded migrations of `df_identity`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

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
    let (db, clock) = (runtime.db().clone(), runtime.clock().clone());
    let keyring = Keyring::from_config(&settings.mail.encryption, mail_queue::ENCRYPTION_SECTION)
        .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let mail_queue = mail_queue::MailQueue::new(keyring, clock.clone(), runtime.job_waker());
    let mailer = mail::build_mailer(&settings.mail)?;
    mail_queue::register(runtime.jobs(), db.clone(), mail_queue.clone(), mailer);
    let housekeeping_round = {
        let (db, clock) = (db.clone(), clock.clone());
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
        clock,
    );
    account_mail::register(runtime.jobs(), accounts.clone());
    let identity = IdentityServer::new(grpc_service::IdentityService::new(accounts))
        .max_decoding_message_size(config.base.grpc.max_message_bytes);
    runtime.serve(listeners, identity).await
}
