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
pub mod errors;
pub mod grpc;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod payouts;
pub mod provider;
pub mod return_urls;
pub mod scheduler;
pub mod schema;
pub mod service;
pub mod status;
pub mod subscriptions;
pub mod tax;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;

use std::sync::Arc;

use df_common::Error;
use df_proto::payments::v1::payments_server::PaymentsServer;
use df_runtime::{Listeners, Runtime};
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

/// Extra wiring the caller may supply (tests and the dev runner share the clock and reach the
/// simulated provider's controls).
#[derive(Default)]
pub struct Wiring {
    /// The clock; the system clock when `None`.
    pub clock: Option<Clock>,
    /// Where the simulated provider serves its hosted pages (only with that provider).
    pub simulated_pages: Option<TcpListener>,
    /// Receives the simulated provider once it exists.
    pub simulated: Option<Arc<std::sync::OnceLock<SimulatedProvider>>>,
    /// Receives the webhook pipeline once it exists (benchmarks call it directly).
    pub webhooks: Option<Arc<std::sync::OnceLock<webhook::Webhooks>>>,
}

impl Wiring {
    /// The wiring of the binary: the simulated provider's pages on their configured address.
    pub async fn bind(config: &PaymentsConfig) -> Result<Self, Error> {
        let simulated_pages = match config.own.provider.kind {
            ProviderKind::Simulated => Some(
                TcpListener::bind(config.own.provider.simulated.listen)
                    .await
                    .map_err(Error::internal)?,
            ),
            ProviderKind::Stripe => None,
        };
        Ok(Self {
            simulated_pages,
            ..Self::default()
        })
    }
}

/// Runs payments until `shutdown` is cancelled, then drains and returns.
pub async fn serve(
    config: PaymentsConfig,
    listeners: Listeners,
    wiring: Wiring,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let clock = wiring.clock.clone().unwrap_or_default();
    let mut runtime = Runtime::start(SERVICE, &config.base, MIGRATIONS, clock, shutdown).await?;
    let settings = config.own;
    let provider = start_provider(&settings, wiring, &mut runtime)?;
    let db = runtime.db().clone();
    let entitlements = entitlements::Entitlements::new(
        runtime.cache().clone(),
        std::time::Duration::from_secs(u64::from(settings.policy.entitlement_cache_secs)),
        entitlements::AccessPolicy {
            grace: chrono::Duration::days(i64::from(settings.policy.grace_days)),
        },
    );
    let service = Service {
        db: db.clone(),
        entitlements,
        provider: provider.provider,
        clock: runtime.clock().clone(),
        policy: settings.policy.clone(),
        webhooks: settings.webhooks.clone(),
        relay: runtime.relay().clone(),
        return_origins: return_urls::ReturnOrigins::new(&settings.checkout.return_origins),
        tax: Arc::new(service::TaxSettings {
            keyring: df_common::keyring::Keyring::from_config(
                &settings.tax.encryption,
                "tax.encryption",
            )
            .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?,
            config: settings.tax.clone(),
        }),
    };
    let webhooks = webhook::Webhooks::spawn(service.clone());
    if let Some(slot) = &provider.webhooks_slot {
        let _ = slot.set(webhooks.clone());
    }
    scheduler::register(runtime.jobs(), &service);
    runtime.consume(df_runtime::erasure::UserErasure(erasure::PaymentsErasure));
    runtime.consume(access_log::AccessLogHandler);
    let payments = PaymentsServer::new(grpc::PaymentsService::new(service, webhooks))
        .max_decoding_message_size(config.base.grpc.max_message_bytes);
    runtime.serve(listeners, payments).await
}

/// The provider, started.
struct Started {
    provider: Arc<dyn PaymentProvider>,
    webhooks_slot: Option<Arc<std::sync::OnceLock<webhook::Webhooks>>>,
}

/// Starts the configured provider; the simulated one's webhook deliveries and hosted pages run
/// until shutdown.
fn start_provider(
    settings: &config::PaymentsSections,
    wiring: Wiring,
    runtime: &mut Runtime,
) -> Result<Started, Error> {
    let provider: Arc<dyn PaymentProvider> = match settings.provider.kind {
        ProviderKind::Simulated => {
            let sim_config = &settings.provider.simulated;
            let previous = wiring.simulated.as_ref().and_then(|slot| slot.get());
            let (sim, deliveries) = SimulatedProvider::new(
                runtime.clock().clone(),
                &sim_config.public_url,
                settings.webhooks.signing_secret.clone(),
                &sim_config.webhook_url,
                sim_config.delivery_attempts,
                previous,
            );
            runtime.keep(tokio::spawn(deliveries.run(runtime.shutdown().clone())));
            if let Some(listener) = wiring.simulated_pages {
                let router = sim.router();
                let stop = runtime.shutdown().clone();
                runtime.keep(tokio::spawn(async move {
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
            &settings.provider.stripe,
        )?),
    };
    Ok(Started {
        provider,
        webhooks_slot: wiring.webhooks,
    })
}
