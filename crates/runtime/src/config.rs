//! The settings of the kit's own pieces: Postgres and the event bus. They are sections of
//! every gRPC service's configuration, loaded and validated with the rest of it
//! ([`df_common::config`]).

use std::path::PathBuf;

use df_common::{
    Secret,
    config::{Validate, check_range},
};
use serde::Deserialize;

/// Postgres TLS policy, in libpq's `sslmode` vocabulary.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP (local development only).
    #[default]
    Disable,
    /// Encrypted, server certificate not verified.
    Require,
    /// Encrypted, certificate chain and host name verified.
    VerifyFull,
}

/// Postgres connection settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user@host:port/db`; may contain a password, so it is a secret.
    pub url: Secret<String>,
    /// Largest number of pooled connections.
    pub max_connections: usize,
    /// How long to wait for a new connection.
    pub connect_timeout_ms: u64,
    /// How long to wait for a pooled connection.
    pub acquire_timeout_ms: u64,
    /// Server-side statement timeout.
    pub statement_timeout_ms: u64,
    /// TLS policy.
    pub tls: TlsMode,
    /// PEM bundle of trusted roots for `verify-full` (system web roots otherwise).
    pub ca_file: Option<PathBuf>,
    /// PgBouncer in transaction mode: no startup options (set the statement timeout on the
    /// database role) and no server-side prepared statement cache.
    pub pgbouncer_transaction_mode: bool,
    /// Run embedded migrations at start-up.
    pub run_migrations: bool,
    /// Direct (not pooled) URL used for migrations, as the role that owns the schema; required
    /// when migrating at start-up behind PgBouncer in transaction mode, whose pooled connections
    /// cannot hold the migration lock.
    pub migration_url: Option<Secret<String>>,
    /// The role the service runs as (`url`'s user), when it is not the schema's owner: after
    /// migrating, the owner grants it row access and nothing more (no DDL, so the ledger's
    /// append-only triggers bind it). Lower-case letters, digits and `_`.
    pub app_role: Option<String>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::from("postgres://postgres@127.0.0.1:5432/postgres"),
            max_connections: 16,
            connect_timeout_ms: 5_000,
            acquire_timeout_ms: 5_000,
            statement_timeout_ms: 10_000,
            tls: TlsMode::Disable,
            ca_file: None,
            pgbouncer_transaction_mode: false,
            run_migrations: true,
            migration_url: None,
            app_role: None,
        }
    }
}

impl Validate for DatabaseConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        let url = self.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            problems.push("database.url: must start with postgres:// (value hidden)".into());
        }
        check_range(
            problems,
            "database.max_connections",
            self.max_connections,
            1,
            1_000,
        );
        check_range(
            problems,
            "database.connect_timeout_ms",
            self.connect_timeout_ms,
            100,
            120_000,
        );
        check_range(
            problems,
            "database.acquire_timeout_ms",
            self.acquire_timeout_ms,
            10,
            120_000,
        );
        check_range(
            problems,
            "database.statement_timeout_ms",
            self.statement_timeout_ms,
            100,
            3_600_000,
        );
        if self.pgbouncer_transaction_mode && self.run_migrations && self.migration_url.is_none() {
            problems.push(
                "database.migration_url: required when run_migrations is on behind PgBouncer in transaction mode (a direct connection to Postgres)"
                    .into(),
            );
        }
        if let Some(url) = &self.migration_url
            && !(url.expose().starts_with("postgres://")
                || url.expose().starts_with("postgresql://"))
        {
            problems
                .push("database.migration_url: must start with postgres:// (value hidden)".into());
        }
        if let Some(ca) = &self.ca_file
            && !ca.is_file()
        {
            problems.push(format!("database.ca_file: {} does not exist", ca.display()));
        }
        if let Some(role) = &self.app_role {
            let valid = (1..=63).contains(&role.len())
                && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && role
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                problems.push(format!(
                    "database.app_role: `{role}` must be 1 to 63 lower-case letters, digits or `_`, not starting with a digit"
                ));
            }
        }
    }
}

/// RabbitMQ settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `amqp://user:pass@host:port/vhost` (or `amqps://`).
    pub url: Secret<String>,
    /// Prefix of every exchange and queue name (isolates tests and environments).
    pub namespace: String,
    /// Deliveries of one message before it is dead-lettered.
    pub delivery_limit: u32,
    /// Unacknowledged messages a consumer may hold.
    pub prefetch: u16,
    /// How often the outbox relay looks for work when not woken.
    pub outbox_poll_ms: u64,
    /// Events relayed per batch.
    pub outbox_batch: i64,
    /// How long to wait for a publisher confirm.
    pub publish_timeout_ms: u64,
    /// First retry delay of a failed handler (doubled per delivery).
    pub retry_base_ms: u64,
    /// Largest retry delay.
    pub retry_max_ms: u64,
    /// Largest reconnect delay.
    pub reconnect_max_ms: u64,
    /// When set, the broker deletes a consumer queue (and its dead-letter queue) that has had
    /// no consumer for this long. Off in production, where a queue outlives any outage of its
    /// service; test namespaces set it so that no queue outlives its test.
    pub idle_queue_expiry_ms: Option<u64>,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: Secret::from("amqp://guest:guest@127.0.0.1:5672/%2f"),
            namespace: String::new(),
            delivery_limit: 5,
            prefetch: 32,
            outbox_poll_ms: 500,
            outbox_batch: 100,
            publish_timeout_ms: 5_000,
            retry_base_ms: 200,
            retry_max_ms: 30_000,
            reconnect_max_ms: 10_000,
            idle_queue_expiry_ms: None,
        }
    }
}

impl Validate for BusConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        let url = self.url.expose();
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            problems.push("bus.url: must start with amqp:// or amqps:// (value hidden)".into());
        }
        check_range(problems, "bus.delivery_limit", self.delivery_limit, 1, 100);
        check_range(problems, "bus.prefetch", self.prefetch, 1, 10_000);
        check_range(
            problems,
            "bus.outbox_poll_ms",
            self.outbox_poll_ms,
            10,
            60_000,
        );
        check_range(problems, "bus.outbox_batch", self.outbox_batch, 1, 10_000);
        check_range(
            problems,
            "bus.publish_timeout_ms",
            self.publish_timeout_ms,
            100,
            120_000,
        );
        check_range(
            problems,
            "bus.retry_base_ms",
            self.retry_base_ms,
            1,
            600_000,
        );
        check_range(
            problems,
            "bus.retry_max_ms",
            self.retry_max_ms,
            self.retry_base_ms,
            3_600_000,
        );
        check_range(
            problems,
            "bus.reconnect_max_ms",
            self.reconnect_max_ms,
            10,
            600_000,
        );
        if let Some(expiry) = self.idle_queue_expiry_ms {
            // The broker takes a 32-bit count of milliseconds; under a minute would race a
            // consumer reconnecting after a broker restart.
            check_range(
                problems,
                "bus.idle_queue_expiry_ms",
                expiry,
                60_000,
                u64::from(u32::MAX),
            );
        }
        if self
            .namespace
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            problems
                .push("bus.namespace: only letters, digits, '.', '_' and '-' are allowed".into());
        }
    }
}

/// What production mode refuses in these sections (see `df_common::config::production`).
pub mod production {
    use super::{DatabaseConfig, TlsMode};

    /// The database connection must be encrypted.
    pub fn database(config: &DatabaseConfig, problems: &mut Vec<String>) {
        if config.tls == TlsMode::Disable {
            problems.push(
                "database.tls: must be require or verify-full in production (it is disable)".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use df_common::config::{RedisConfig, Sources, Validate, load_from};

    use super::*;
    use quickcheck_macros::quickcheck;

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct TestConfig {
        database: DatabaseConfig,
        redis: RedisConfig,
        bus: BusConfig,
        name: String,
    }

    impl Default for TestConfig {
        fn default() -> Self {
            Self {
                database: Default::default(),
                redis: Default::default(),
                bus: Default::default(),
                name: "svc".into(),
            }
        }
    }

    impl Validate for TestConfig {
        fn validate(&self, problems: &mut Vec<String>) {
            self.database.validate(problems);
            self.redis.validate(problems);
            self.bus.validate(problems);
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "name = \"from-file\"\n[database]\nmax_connections = 7\nstatement_timeout_ms = 2000\n",
        )
        .unwrap();
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        std::fs::write(secrets.join("database__url"), "postgres://u:pw@db/x\n").unwrap();
        std::fs::write(secrets.join("..data"), "ignored").unwrap();

        let sources = Sources {
            file: Some(file),
            env: env(&[
                ("DF_DATABASE__MAX_CONNECTIONS", "9"),
                ("DF_NAME", "12345"),
                ("OTHER", "x"),
            ]),
            secrets_dir: Some(secrets),
        };
        let config: TestConfig = load_from(&sources).unwrap();
        assert_eq!(config.database.max_connections, 9, "env beats file");
        assert_eq!(
            config.database.statement_timeout_ms, 2000,
            "file beats default"
        );
        assert_eq!(
            config.database.url.expose(),
            "postgres://u:pw@db/x",
            "secret file, newline trimmed"
        );
        assert_eq!(config.name, "12345", "numeric-looking text stays text");
        assert_eq!(config.redis.pool_size, 32, "defaults fill the rest");
    }

    #[test]
    fn lists_come_from_the_environment_as_toml_arrays_and_text_stays_text() {
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        struct Lists {
            origins: Vec<String>,
            ports: Vec<u16>,
            password: String,
        }
        impl Validate for Lists {
            fn validate(&self, _: &mut Vec<String>) {}
        }
        let sources = Sources {
            env: env(&[
                (
                    "DF_ORIGINS",
                    r#"["https://a.example", "http://localhost:8080"]"#,
                ),
                ("DF_PORTS", "[80, 443]"),
                ("DF_PASSWORD", "[not a list]"),
            ]),
            ..Sources::default()
        };
        let lists: Lists = load_from(&sources).unwrap();
        assert_eq!(
            lists.origins,
            ["https://a.example", "http://localhost:8080"]
        );
        assert_eq!(lists.ports, [80, 443]);
        assert_eq!(lists.password, "[not a list]");
        let sources = Sources {
            env: env(&[("DF_PASSWORD", "[1, 2]")]),
            ..Sources::default()
        };
        let lists: Lists = load_from(&sources).unwrap();
        assert_eq!(
            lists.password, "[1, 2]",
            "a list where text is wanted is read as text"
        );
    }

    #[test]
    fn every_bad_value_is_reported_once() {
        let sources = Sources {
            env: env(&[
                ("DF_DATABASE__MAX_CONNECTIONS", "0"),
                ("DF_REDIS__URL", "http://nope"),
                ("DF_REDIS__COMMAND_TIMEOUT_MS", "1"),
            ]),
            ..Default::default()
        };
        let error = load_from::<TestConfig>(&sources).unwrap_err();
        assert_eq!(error.problems.len(), 3, "{error}");
        assert!(
            error
                .problems
                .iter()
                .any(|p| p.starts_with("database.max_connections"))
        );
        assert!(error.problems.iter().any(|p| p.starts_with("redis.url")));
        assert!(
            error
                .problems
                .iter()
                .any(|p| p.starts_with("redis.command_timeout_ms"))
        );
    }

    #[test]
    fn an_idle_queue_expiry_is_off_by_default_and_at_least_a_minute() {
        let load = |pairs: &[(&str, &str)]| {
            load_from::<TestConfig>(&Sources {
                env: env(pairs),
                ..Default::default()
            })
        };
        assert_eq!(load(&[]).unwrap().bus.idle_queue_expiry_ms, None);
        let set = load(&[("DF_BUS__IDLE_QUEUE_EXPIRY_MS", "600000")]).unwrap();
        assert_eq!(set.bus.idle_queue_expiry_ms, Some(600_000));
        let error = load(&[("DF_BUS__IDLE_QUEUE_EXPIRY_MS", "1000")]).unwrap_err();
        assert!(
            error.problems.len() == 1 && error.problems[0].starts_with("bus.idle_queue_expiry_ms"),
            "{error}"
        );
    }

    #[test]
    fn type_errors_name_the_setting() {
        let sources = Sources {
            env: env(&[("DF_DATABASE__MAX_CONNECTIONS", "lots")]),
            ..Default::default()
        };
        let error = load_from::<TestConfig>(&sources).unwrap_err();
        assert!(
            error.to_string().contains("database.max_connections"),
            "{error}"
        );
        let sources = Sources {
            env: env(&[("DF_DATABASE__COLOUR", "red")]),
            ..Default::default()
        };
        let error = load_from::<TestConfig>(&sources).unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
    }

    #[test]
    fn toml_syntax_errors_do_not_echo_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[database]\nurl = postgres://app:S3cretPw@db/app\n").unwrap();
        let sources = Sources {
            file: Some(file),
            ..Default::default()
        };
        let error = load_from::<TestConfig>(&sources).unwrap_err();
        assert!(!error.to_string().contains("S3cretPw"), "{error}");
        assert!(error.to_string().contains("not valid TOML"), "{error}");
    }

    #[test]
    fn pgbouncer_mode_needs_a_direct_migration_url() {
        let sources = Sources {
            env: env(&[("DF_DATABASE__PGBOUNCER_TRANSACTION_MODE", "true")]),
            ..Default::default()
        };
        let error = load_from::<TestConfig>(&sources).unwrap_err();
        assert!(
            error
                .problems
                .iter()
                .any(|p| p.starts_with("database.migration_url"))
        );
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let sources = Sources {
            file: Some("/nonexistent/df.toml".into()),
            ..Default::default()
        };
        let error = load_from::<TestConfig>(&sources).unwrap_err();
        assert!(error.to_string().contains("does not exist"));
    }

    #[quickcheck]
    fn config_never_prints_a_secret(password: String) -> bool {
        let password: String = password
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        if password.len() < 4 {
            return true;
        }
        let url = format!("postgres://user:{password}@db:5432/app");
        let sources = Sources {
            env: env(&[
                ("DF_DATABASE__URL", &url),
                ("DF_REDIS__URL", &format!("bogus://{password}")),
            ]),
            ..Default::default()
        };
        // A valid secret is hidden in Debug, and an invalid one is not echoed in errors.
        let printed = match load_from::<TestConfig>(&sources) {
            Ok(config) => format!("{config:?}"),
            Err(error) => format!("{error} {error:?}"),
        };
        let good = Sources {
            env: env(&[("DF_DATABASE__URL", &url)]),
            ..Default::default()
        };
        let printed_good = match load_from::<TestConfig>(&good) {
            Ok(config) => format!("{config:?}"),
            Err(error) => return error.problems.is_empty(),
        };
        !printed.contains(&password) && !printed_good.contains(&password)
    }
}
