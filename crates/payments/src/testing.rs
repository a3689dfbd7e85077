//! Payments under test (feature `testing`): started in this process on ephemeral ports, on a
//! fresh database, with the simulated provider (its pages on a port of their own, its webhooks
//! sent where the test says) and a clock the test moves.

// Test support: a failed setup step is a failed test, with its value in the message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
};

use df_common::secret::Secret;
use df_testkit::{
    Member, RunningService, Surroundings, TestDb, TestEnv, service::ephemeral_listeners,
};
use tokio::net::TcpListener;

use crate::{
    Clock, MIGRATIONS, PaymentsConfig, SERVICE, Wiring,
    config::{PaymentsSections, ProviderKind},
    provider::simulated::SimulatedProvider,
};

/// Where payments' migrations live.
pub const MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");

/// Payments running for a test.
pub struct TestPayments {
    /// The service.
    pub service: RunningService,
    /// Its clock (the simulated provider's too).
    pub clock: Clock,
    /// The webhook signing secret: payments verifies with it, the simulated provider signs.
    pub webhook_secret: Secret<String>,
    /// Where the simulated provider serves its hosted pages.
    pub provider_url: String,
    config: PaymentsConfig,
    simulated: Arc<OnceLock<SimulatedProvider>>,
}

impl Member for TestPayments {
    const NAME: &'static str = SERVICE;
    type Config = PaymentsConfig;

    /// Payments whose simulated provider delivers its webhooks to the gateway and sends fans
    /// back to the test's client app.
    async fn start_member(
        env: &mut TestEnv,
        around: &Surroundings,
        adjust: impl FnOnce(&mut PaymentsConfig) + Send,
    ) -> Self {
        let webhook_url = format!("{}/v1/webhooks/stripe", around.gateway_url);
        Self::start(env, &webhook_url, &around.app_origin, adjust).await
    }

    fn running(&mut self) -> &mut RunningService {
        &mut self.service
    }
}

impl TestPayments {
    /// Starts payments with the test settings of `env`, the simulated provider delivering its
    /// webhooks to `webhook_url`, and return URLs allowed on `app_origin`; changed by `adjust`.
    pub async fn start(
        env: &mut TestEnv,
        webhook_url: &str,
        app_origin: &str,
        adjust: impl FnOnce(&mut PaymentsConfig),
    ) -> Self {
        let db = TestDb::new(SERVICE, MIGRATIONS, &PathBuf::from(MIGRATIONS_DIR)).await;
        let webhook_secret: Secret<String> =
            format!("whsec_{}", uuid::Uuid::new_v4().simple()).into();
        let mut config = PaymentsConfig {
            base: env.base(SERVICE, &db),
            own: PaymentsSections::default(),
        };
        let own = &mut config.own;
        own.provider.kind = ProviderKind::Simulated;
        own.provider.simulated.webhook_url = webhook_url.to_owned();
        own.provider.simulated.delivery_attempts = 50;
        own.webhooks.signing_secret = webhook_secret.clone();
        own.tax = crate::tax::TaxConfig::ephemeral();
        own.checkout.return_origins = vec![app_origin.to_owned()];
        adjust(&mut config);
        let clock = Clock::system();
        let simulated = Arc::new(OnceLock::new());
        let pages = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let provider_url = format!("http://{}", pages.local_addr().unwrap());
        let serve = serving(&config, pages, &clock, &simulated);
        let service = RunningService::start(SERVICE, db, ephemeral_listeners().await, serve).await;
        Self {
            service,
            clock,
            webhook_secret,
            provider_url,
            config,
            simulated,
        }
    }

    /// The simulated provider (restarts keep its accounts and payments).
    pub fn simulated(&self) -> &SimulatedProvider {
        self.simulated
            .get()
            .expect("payments started with the simulated provider")
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &PaymentsConfig {
        &self.config
    }

    /// The access log a dispute of everything `fan` bought from `creator` would quote as
    /// evidence: the deliveries media reported, as payments recorded them.
    pub async fn access_evidence(
        &self,
        fan: df_common::ids::UserId,
        creator: df_common::ids::CreatorId,
    ) -> String {
        let mut conn = self.service.db.db().conn().await.unwrap();
        let scope = crate::access_log::Scope {
            fan_id: fan,
            creator_id: creator,
            ppv_item_id: None,
            since: chrono::DateTime::UNIX_EPOCH,
        };
        crate::access_log::evidence(&mut conn, scope).await.unwrap()
    }

    /// Stops the service and starts it again on the same gRPC port and database, with the same
    /// clock and simulated provider (the provider's pages move to a new port).
    pub async fn restart(&mut self) {
        self.service.stop().await;
        let addr = self.service.grpc_addr;
        // The stopped server's socket may take a moment to be released.
        let grpc = df_testkit::eventually_some(&format!("{addr} can be bound again"), async || {
            TcpListener::bind(addr).await.ok()
        })
        .await;
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pages = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.provider_url = format!("http://{}", pages.local_addr().unwrap());
        let serve = serving(&self.config, pages, &self.clock, &self.simulated);
        self.service
            .serve(df_runtime::Listeners { grpc, admin }, serve)
            .await;
    }
}

/// What [`RunningService`] runs: payments on its listeners, with the test's wiring.
fn serving(
    config: &PaymentsConfig,
    pages: TcpListener,
    clock: &Clock,
    simulated: &Arc<OnceLock<SimulatedProvider>>,
) -> impl FnOnce(
    df_runtime::Listeners,
    tokio_util::sync::CancellationToken,
) -> futures::future::BoxFuture<'static, Result<(), df_common::Error>> {
    let mut config = config.clone();
    config.own.provider.simulated.listen = pages.local_addr().unwrap();
    config.own.provider.simulated.public_url = format!("http://{}", pages.local_addr().unwrap());
    let wiring = Wiring {
        clock: Some(clock.clone()),
        simulated_pages: Some(pages),
        simulated: Some(Arc::clone(simulated)),
        webhooks: None,
    };
    move |listeners, shutdown| Box::pin(crate::serve(config, listeners, wiring, shutdown))
}
