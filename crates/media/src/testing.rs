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
    /// Its object store's directory (the filesystem backend) and spool, removed at the end.
    pub files: tempfile::TempDir,
    /// What it was started with, for a restart.
    config: MediaConfig,
}

/// The clamd tests scan with: the scripts start one with test signatures only.
pub fn clamd_address() -> String {
    std::env::var("DF_TEST_CLAMD").unwrap_or_else(|_| "tcp://127.0.0.1:3310".into())
}

/// Where the test's filesystem store keeps objects.
pub fn storage_root(files: &tempfile::TempDir) -> std::path::PathBuf {
    files.path().join("store")
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
        let mut config = MediaConfig {
            base: env.base(SERVICE, &db),
            own: MediaSections::default(),
        };
        let files = tempfile::tempdir().expect("a directory for the store");
        let own = &mut config.own;
        own.payments.tls = env.client_tls();
        own.storage.root = storage_root(&files);
        own.storage.spool_dir = files.path().join("spool");
        std::fs::create_dir_all(&own.storage.spool_dir).expect("the spool directory");
        own.scanner.address = clamd_address();
        own.moderation.auto_approve_clean_scans = true;
        own.delivery.signing_key_id = "t1".into();
        // 32 random bytes in base64, like an Ed25519 seed.
        let (url_key, _) = df_common::auth::generate_key_pair();
        own.delivery.signing_keys.insert("t1".into(), url_key);
        adjust(&mut config);
        let serving_clock = clock.clone();
        let serving = config.clone();
        let service = RunningService::start(
            SERVICE,
            db,
            ephemeral_listeners().await,
            move |listeners, shutdown| crate::serve(serving, listeners, serving_clock, shutdown),
        )
        .await;
        Self {
            service,
            clock,
            files,
            config,
        }
    }

    /// Stops media (it drains) and starts it again on new ports, with the same database,
    /// store and settings: a deployment's restart.
    pub async fn restart(&mut self) {
        self.service.stop().await;
        let config = self.config.clone();
        let clock = self.clock.clone();
        self.service
            .serve(ephemeral_listeners().await, move |listeners, shutdown| {
                crate::serve(config, listeners, clock, shutdown)
            })
            .await;
    }

    /// Stops media and starts it again like [`TestMedia::restart`], on a runtime of its own so
    /// that [`TestMedia::kill`] can end it.
    pub async fn restart_killable(&mut self) {
        self.service.stop().await;
        let config = self.config.clone();
        let clock = self.clock.clone();
        self.service
            .serve_killable(move |listeners, shutdown| {
                crate::serve(config, listeners, clock, shutdown)
            })
            .await;
    }

    /// Ends media the way a killed process ends: whatever it was doing is dropped unfinished.
    pub fn kill(&mut self) {
        self.service.kill();
    }
}
