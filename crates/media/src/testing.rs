//! Media under test (feature `testing`): started in this process on ephemeral ports, on a fresh
//! database, asking the payments the test points it at, with a clock the test moves.

// Test support: a failed setup step is a failed test, with its value in the message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use df_common::clock::Clock;
use df_testkit::{
    Member, RunningService, Surroundings, TestDb, TestEnv, service::ephemeral_listeners,
};

use crate::{MIGRATIONS, MediaConfig, SERVICE, config::MediaSections};

/// Where media's migrations live.
pub const MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");

/// Media running for a test.
pub struct TestMedia {
    /// The service.
    pub service: RunningService,
    /// Its clock.
    pub clock: Clock,
}

impl Member for TestMedia {
    const NAME: &'static str = SERVICE;
    type Config = MediaConfig;

    /// Media asking the platform's payments (which must start before it).
    async fn start_member(
        env: &mut TestEnv,
        around: &Surroundings,
        adjust: impl FnOnce(&mut MediaConfig) + Send,
    ) -> Self {
        let payments = around
            .grpc_url(df_common::auth::service::PAYMENTS)
            .expect("payments starts before media")
            .to_owned();
        Self::start(env, Clock::system(), |config| {
            config.own.payments.url = payments;
            adjust(config);
        })
        .await
    }

    fn running(&mut self) -> &mut RunningService {
        &mut self.service
    }
}

impl TestMedia {
    /// Starts media with the test settings of `env` and `clock`, changed by `adjust` (which
    /// points `payments.url` at the test's payments).
    pub async fn start(
        env: &mut TestEnv,
        clock: Clock,
        adjust: impl FnOnce(&mut MediaConfig),
    ) -> Self {
        let db = TestDb::new(SERVICE, MIGRATIONS, std::path::Path::new(MIGRATIONS_DIR)).await;
        // The consumer's queue leaves the broker with the test's namespace.
        env.bus.queue(SERVICE, df_runtime::erasure::CONSUMER);
        let mut config = MediaConfig {
            base: env.base(SERVICE, &db),
            own: MediaSections::default(),
        };
        config.own.payments.tls = env.client_tls();
        adjust(&mut config);
        let serving_clock = clock.clone();
        let service = RunningService::start(
            SERVICE,
            db,
            ephemeral_listeners().await,
            move |listeners, shutdown| crate::serve(config, listeners, serving_clock, shutdown),
        )
        .await;
        Self { service, clock }
    }
}
