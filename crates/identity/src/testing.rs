//! Identity under test (feature `testing`): started in this process on ephemeral ports, on a
//! fresh database, with mail written to a directory of its own; and the data builders tests
//! use instead of writing identity's tables.

// Test support: a failed setup step is a failed test, with its value in the message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use df_common::{auth::Role, clock::Clock};
use df_testkit::{
    Member, RunningService, Surroundings, TestDb, TestEnv, service::ephemeral_listeners,
};
use diesel_async::RunQueryDsl;

use crate::{IdentityConfig, MIGRATIONS, SERVICE, config::IdentitySections};

/// Where identity's migrations live (test databases are made from templates named after them).
pub const MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");

/// Identity running for a test.
pub struct TestIdentity {
    /// The service.
    pub service: RunningService,
    mail_dir: tempfile::TempDir,
    clock: Clock,
}

impl Member for TestIdentity {
    const NAME: &'static str = SERVICE;
    type Config = IdentityConfig;

    /// Identity whose links point at the test's client app.
    async fn start_member(
        env: &mut TestEnv,
        around: &Surroundings,
        adjust: impl FnOnce(&mut IdentityConfig) + Send,
    ) -> Self {
        Self::start(env, |config| {
            config
                .own
                .identity
                .public_app_url
                .clone_from(&around.app_origin);
            adjust(config);
        })
        .await
    }

    fn running(&mut self) -> &mut RunningService {
        &mut self.service
    }
}

impl TestIdentity {
    /// Starts identity with the test settings of `env`, changed by `adjust`.
    pub async fn start(env: &mut TestEnv, adjust: impl FnOnce(&mut IdentityConfig)) -> Self {
        let db = TestDb::new(SERVICE, MIGRATIONS, &PathBuf::from(MIGRATIONS_DIR)).await;
        let mail_dir = tempfile::tempdir().expect("a mail directory");
        let mut config = IdentityConfig {
            base: env.base(SERVICE, &db),
            own: IdentitySections::default(),
        };
        config.own.mail.outbox_dir = mail_dir.path().to_owned();
        config.own.mail.encryption = df_common::keyring::EncryptionConfig::ephemeral();
        adjust(&mut config);
        let clock = Clock::system();
        let service = RunningService::start(SERVICE, db, ephemeral_listeners().await, {
            let clock = clock.clone();
            |listeners, shutdown| crate::serve(config, listeners, clock, shutdown)
        })
        .await;
        Self {
            service,
            mail_dir,
            clock,
        }
    }

    /// The service's clock: tests move it forward instead of rewriting stored times.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The directory identity writes its mail to.
    pub fn mail_dir(&self) -> &std::path::Path {
        self.mail_dir.path()
    }

    /// Every email written so far, as raw text, oldest first.
    pub fn emails(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.mail_dir.path())
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Waits for an email to `to` whose text contains `needle`, and returns it.
    pub async fn wait_for_email(&self, to: &str, needle: &str) -> String {
        let recipient = format!("To: {to}");
        df_testkit::eventually_some(
            &format!("an email to {to} contains {needle:?}"),
            async || {
                self.emails()
                    .into_iter()
                    .find(|m| m.contains(&recipient) && m.contains(needle))
            },
        )
        .await
    }

    /// Gives the account `username` the role `role` (staff accounts are made by an operator;
    /// identity has no public way to do it).
    pub async fn grant_role(&self, username: &str, role: Role) {
        let mut conn = self.service.db.db().conn().await.expect("a connection");
        let updated = diesel::sql_query("UPDATE users SET role = $1 WHERE username = $2")
            .bind::<diesel::sql_types::Text, _>(role.as_str())
            .bind::<diesel::sql_types::Text, _>(username)
            .execute(&mut conn)
            .await
            .expect("the role is granted");
        assert_eq!(updated, 1, "no account named {username}");
    }
}
