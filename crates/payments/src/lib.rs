//! Payments service: creator payout accounts, subscription tiers, checkouts for subscriptions,
//! tips and pay-per-view, entitlements, a double-entry ledger, payouts, disputes and tax forms.
//!
//! `serve` runs the whole service on listeners the caller bound, so the binary, the all-in-one
//! dev runner and the end-to-end tests start exactly the same code.

pub mod access_log;
pub mod catalogue;
pub mod charges;
pub mod checkout;
pub mod config;
pub mod disputes;
pub mod earnings;
pub mod entitlements;
pub mod erasure;
pub mod grpc_service;
pub mod ledger;
pub mod money;
pub mod payouts;
pub mod provider;
pub mod return_urls;
pub mod scheduler;
pub mod schema;
pub mod service;
pub mod subscriptions;
pub mod tax;
pub mod webhook;

use std::sync::Arc;

use df_common::{
    Error,
    auth::TokenSigner,
    cache::Cache,
    lifecycle::{Readiness, serve_admin},
};
use df_proto::payments::v1::payments_server::PaymentsServer;
use df_runtime::{
    bus::{Bus, relay::OutboxRelay},
    db::Db,
};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::PaymentsConfig;
use config::ProviderKind;
pub use df_common::clock::Clock;
use provider::{PaymentProvider, simulated::SimulatedProvider};
pub use service::{SERVICE, Service};

/// The embedded migrations of `df_payments`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The sockets payments serves on.
pub struct Listeners {
    /// gRPC.
    pub grpc: TcpListener,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin: TcpListener,
    /// The simulated provider's hosted pages (only with the simulated provider).
    pub simulated: Option<TcpListener>,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &PaymentsConfig) -> Result<Self, Error> {
        let simulated = match config.provider.kind {
            ProviderKind::Simulated => Some(
                TcpListener::bind(config.provider.simulated.listen)
                    .await
                    .map_err(Error::internal)?,
            ),
            ProviderKind::Stripe => None,
        };
        Ok(Self {
            grpc: TcpListener::bind(config.grpc.listen)
                .await
                .map_err(Error::internal)?,
            admin: TcpListener::bind(config.admin.listen)
                .await
                .map_err(Error::internal)?,
            simulated,
        })
    }
}

/// Extra wiring the caller may supply (tests and the dev runner share the clock and reach the
/// simulated provider's controls).
#[derive(Clone, Default)]
pub struct Wiring {
    /// The clock; the system clock when `None`.
    pub clock: Option<Clock>,
    /// Receives the simulated provider once it exists.
    pub simulated: Option<Arc<std::sync::OnceLock<SimulatedProvider>>>,
    /// Receives the service's shared state once it exists (benchmarks call the flows directly).
    pub service: Option<Arc<std::sync::OnceLock<Service>>>,
}

/// Runs payments until `shutdown` is cancelled, then drains and returns.
pub async fn serve(
    config: PaymentsConfig,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    serve_with(config, listeners, Wiring::default(), shutdown).await
}

/// [`serve`] with explicit wiring.
pub async fn serve_with(
    config: PaymentsConfig,
    listeners: Listeners,
    wiring: Wiring,
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
    let clock = wiring.clock.clone().unwrap_or_default();

    let mut side_tasks = Vec::new();
    let provider: Arc<dyn PaymentProvider> = match config.provider.kind {
        ProviderKind::Simulated => {
            let sim_config = &config.provider.simulated;
            let secret = config.webhooks.signing_secret.clone();
            let previous = wiring.simulated.as_ref().and_then(|slot| slot.get());
            let (sim, deliveries) = SimulatedProvider::new(
                clock.clone(),
                &sim_config.public_url,
                secret,
                &sim_config.webhook_url,
                sim_config.delivery_attempts,
                previous,
            );
            side_tasks.push(tokio::spawn(deliveries.run(shutdown.clone())));
            if let Some(listener) = listeners.simulated {
                let router = sim.router();
                let stop = shutdown.clone();
                side_tasks.push(tokio::spawn(async move {
                    let served = axum::serve(listener, router)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "simulated provider pages stopped");
                    }
                }));
            }
            if let Some(slot) = &wiring.simulated {
                let _ = slot.set(sim.clone());
            }
            Arc::new(sim)
        }
        ProviderKind::Stripe => Arc::new(provider::stripe::StripeProvider::new(
            &config.provider.stripe,
        )?),
    };

    let entitlements = entitlements::Entitlements::new(
        cache,
        std::time::Duration::from_secs(u64::from(config.policy.entitlement_cache_secs)),
        entitlements::AccessPolicy {
            grace: chrono::Duration::days(i64::from(config.policy.grace_days)),
        },
    );
    let payment_batches =
        webhook::batch::PaymentBatcher::spawn(db.clone(), entitlements.clone(), relay.clone());
    let service = Service {
        db: db.clone(),
        entitlements,
        provider,
        clock,
        policy: config.policy.clone(),
        webhooks: config.webhooks.clone(),
        relay,
        payment_batches,
        seen_events: webhook::seen::SeenEvents::spawn(db.clone()),
        return_origins: return_urls::ReturnOrigins::new(&config.checkout.return_origins),
        tax: Arc::new(service::TaxSettings {
            keyring: df_common::keyring::Keyring::from_config(
                &config.tax.encryption,
                "tax.encryption",
            )
            .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?,
            config: config.tax.clone(),
        }),
    };
    if let Some(slot) = &wiring.service {
        let _ = slot.set(service.clone());
    }
    let scheduler_task = scheduler::spawn(service.clone(), shutdown.clone());
    let erasure_task = df_runtime::bus::spawn_consumer(
        db.clone(),
        bus.clone(),
        Arc::new(erasure::ErasureHandler),
        &config.bus,
        shutdown.clone(),
    );
    let access_log_task = df_runtime::bus::spawn_consumer(
        db.clone(),
        bus.clone(),
        Arc::new(access_log::AccessLogHandler),
        &config.bus,
        shutdown.clone(),
    );

    let signer = Arc::new(TokenSigner::from_config(&config.internal_auth, SERVICE)?);
    let payments = PaymentsServer::new(grpc_service::PaymentsService::new(service))
        .max_decoding_message_size(config.grpc.max_message_bytes);
    let readiness = df_runtime::db::PostgresReadiness::with_postgres(Readiness::new(), &db);
    let admin = tokio::spawn(serve_admin(listeners.admin, readiness, shutdown.clone()));
    tracing::info!(service = SERVICE, "serving");
    df_common::grpc::serve_authenticated(
        &config.grpc,
        listeners.grpc,
        payments,
        signer,
        shutdown.clone(),
    )
    .await?;
    shutdown.cancel();
    let _ = tokio::join!(
        relay_task,
        scheduler_task,
        erasure_task,
        access_log_task,
        admin
    );
    for task in side_tasks {
        let _ = task.await;
    }
    tracing::info!(service = SERVICE, "stopped");
    Ok(())
}
