//! Postgres through diesel-async with a deadpool pool.
//!
//! Connections are made by our own setup function so that we control the connect timeout, TLS
//! (`disable`, `require`, `verify-full`) and the server-side statement timeout. In PgBouncer
//! transaction mode no session state may be relied on: the prepared statement cache is disabled
//! and the statement timeout is not sent as a startup option (PgBouncer would refuse it); set it
//! on the database role instead (`ALTER ROLE app SET statement_timeout = '10s'`).
//!
//! Transactions use diesel-async directly: `db.conn().await?.transaction(async |conn| ...)`.

use std::{sync::Arc, time::Duration};

use diesel::{ConnectionError, ConnectionResult, connection::CacheSize};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl,
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, deadpool},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use futures::FutureExt;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use df_common::error::{Error, ErrorKind};

use crate::config::{DatabaseConfig, TlsMode};

/// A pooled connection.
pub type PooledConn = deadpool::Object<AsyncPgConnection>;

/// The database handle every service keeps; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: deadpool::Pool<AsyncPgConnection>,
    url: Arc<df_common::Secret<String>>,
    migration_url: Option<Arc<df_common::Secret<String>>>,
    app_role: Option<String>,
    setup: Arc<ConnectSettings>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("status", &self.pool.status())
            .finish_non_exhaustive()
    }
}

/// Everything needed to open one connection.
#[derive(Clone)]
struct ConnectSettings {
    connect_timeout: Duration,
    statement_timeout_ms: u64,
    pgbouncer: bool,
    tls: Option<Arc<ClientConfig>>,
}

/// Connections checked out within this long of their previous checkout skip the liveness
/// ping: under load that ping was one round trip in three.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Pings a pooled connection before it is handed out again, if it sat idle for a while (a
/// connection the server or a proxy dropped meanwhile is then replaced, not handed out).
async fn ping_if_idle(
    conn: &mut AsyncPgConnection,
    idle: Duration,
) -> Result<(), deadpool::HookError> {
    if idle < PING_AFTER_IDLE {
        return Ok(());
    }
    diesel::sql_query("SELECT 1")
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| {
            deadpool::HookError::Backend(diesel_async::pooled_connection::PoolError::QueryError(e))
        })
}

impl Db {
    /// Builds the pool. No connection is opened until one is needed, so a service starts even
    /// while Postgres is briefly away; `/readyz` reports it.
    pub fn connect(config: &DatabaseConfig) -> Result<Self, Error> {
        let tls = match config.tls {
            TlsMode::Disable => None,
            TlsMode::Require => Some(Arc::new(tls_without_verification())),
            TlsMode::VerifyFull => Some(Arc::new(tls_verified(config.ca_file.as_deref())?)),
        };
        let settings = Arc::new(ConnectSettings {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            statement_timeout_ms: config.statement_timeout_ms,
            pgbouncer: config.pgbouncer_transaction_mode,
            tls,
        });
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        // Checked out again soon after its last use, a connection is handed over without the
        // `SELECT 1` round trip; one idle for longer is pinged first (`ping_if_idle`).
        manager_config.recycling_method = RecyclingMethod::Fast;
        let for_setup = Arc::clone(&settings);
        manager_config.custom_setup =
            Box::new(move |url| establish(url.to_owned(), Arc::clone(&for_setup)).boxed());
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
            config.url.expose().clone(),
            manager_config,
        );
        let acquire = Duration::from_millis(config.acquire_timeout_ms);
        let pool = deadpool::Pool::builder(manager)
            .max_size(config.max_connections)
            .runtime(::deadpool::Runtime::Tokio1)
            .wait_timeout(Some(acquire))
            .create_timeout(Some(Duration::from_millis(config.connect_timeout_ms)))
            .recycle_timeout(Some(acquire))
            .pre_recycle(deadpool::Hook::async_fn(|conn, metrics| {
                Box::pin(ping_if_idle(conn, metrics.last_used()))
            }))
            .build()
            .map_err(|e| Error::internal(anyhow::anyhow!("database pool: {e}")))?;
        Ok(Self {
            pool,
            url: Arc::new(config.url.clone()),
            migration_url: config.migration_url.clone().map(Arc::new),
            app_role: config.app_role.clone(),
            setup: settings,
        })
    }

    /// A connection from the pool; `common.database_unavailable` when none can be had in time.
    pub async fn conn(&self) -> Result<PooledConn, Error> {
        self.pool.get().await.map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                "common.database_unavailable",
                "The service is temporarily unavailable. Try again later.",
            )
            .with_cause(anyhow::anyhow!("database pool: {e}"))
        })
    }

    /// Runs the kit's migrations (outbox, inbox, jobs), then the service's pending embedded
    /// `migrations`, under an advisory lock, so replicas starting together migrate once; then, with `database.app_role`, grants that role what the service needs on
    /// what the migrations made.
    ///
    /// Migrations run as the role that owns the schema (`migration_url`), the service as the
    /// application role: a role that owns a table may disable its triggers, alter or truncate
    /// it, so the ledger's append-only triggers bind the service only when it is not the owner.
    /// The application role may read and write rows, use sequences and call functions, and no
    /// more: no DDL, no `TRUNCATE`, no trigger changes, no writes to the migrations table.
    pub async fn run_migrations(&self, migrations: EmbeddedMigrations) -> Result<(), Error> {
        let url = self
            .migration_url
            .as_ref()
            .unwrap_or(&self.url)
            .expose()
            .clone();
        // Migrations run on a direct session (the advisory lock is session-scoped).
        let setup = Arc::new(ConnectSettings {
            pgbouncer: false,
            ..(*self.setup).clone()
        });
        let conn = establish(url, setup)
            .await
            .map_err(|e| Error::unavailable(anyhow::anyhow!("migration connection: {e}")))?;
        let app_role = self.app_role.clone();
        tokio::task::spawn_blocking(move || -> Result<(), Error> {
            let mut wrapper: AsyncConnectionWrapper<AsyncPgConnection> =
                AsyncConnectionWrapper::from(conn);
            use diesel::connection::SimpleConnection;
            wrapper
                .batch_execute("SELECT pg_advisory_lock(4242001)")
                .map_err(Error::internal)?;
            let result = wrapper
                .run_pending_migrations(crate::KIT_MIGRATIONS)
                .map(|_| ())
                .and_then(|()| wrapper.run_pending_migrations(migrations).map(|_| ()))
                .map_err(|e| Error::internal(anyhow::anyhow!("migrations failed: {e}")))
                .and_then(|()| match &app_role {
                    Some(role) => wrapper.batch_execute(&grants_to(role)).map_err(|e| {
                        Error::internal(anyhow::anyhow!("grants to the app role: {e}"))
                    }),
                    None => Ok(()),
                });
            wrapper
                .batch_execute("SELECT pg_advisory_unlock(4242001)")
                .map_err(Error::internal)?;
            result
        })
        .await
        .map_err(Error::internal)?
    }

    /// True when a trivial query succeeds (readiness).
    pub async fn ping(&self) -> bool {
        match self.conn().await {
            Ok(mut conn) => diesel::sql_query("SELECT 1")
                .execute(&mut conn)
                .await
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Pool statistics for metrics.
    pub fn status(&self) -> ::deadpool::Status {
        self.pool.status()
    }
}

async fn establish(
    url: String,
    settings: Arc<ConnectSettings>,
) -> ConnectionResult<AsyncPgConnection> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| ConnectionError::BadConnection(format!("invalid database url: {e}")))?;
    config.connect_timeout(settings.connect_timeout);
    if !settings.pgbouncer {
        // Session-level setting, valid for every statement on this connection.
        config.options(format!(
            "-c statement_timeout={}",
            settings.statement_timeout_ms
        ));
    }
    let connect = async {
        let mut conn = match &settings.tls {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await?
            }
            Some(tls) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let (client, connection) = config
                    .connect(tls)
                    .await
                    .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await?
            }
        };
        if settings.pgbouncer {
            // Server-side prepared statements do not survive PgBouncer's connection switching.
            conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        }
        Ok(conn)
    };
    tokio::time::timeout(settings.connect_timeout, connect)
        .await
        .map_err(|_| ConnectionError::BadConnection("connect timed out".into()))?
}

/// What the application role (validated: lower-case letters, digits and `_`) may do in the
/// service's schema.
fn grants_to(role: &str) -> String {
    format!(
        r#"GRANT USAGE ON SCHEMA public TO "{role}";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{role}";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO "{role}";
REVOKE INSERT, UPDATE, DELETE ON __diesel_schema_migrations FROM "{role}";"#
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_verified(ca_file: Option<&std::path::Path>) -> Result<ClientConfig, Error> {
    let roots = df_common::tls::root_store(ca_file, "database.ca_file")?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::internal)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// libpq's `sslmode=require`: encrypted, but the certificate is not checked. Offered for managed
/// databases whose CA is not distributed; `verify-full` is the production recommendation.
fn tls_without_verification() -> ClientConfig {
    let provider = provider();
    let verifier = Arc::new(AcceptAnyCertificate(Arc::clone(&provider)));
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        })
        .unwrap_or_else(|_| {
            ClientConfig::builder()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Readiness with the check every database-owning service has: Postgres answers.
pub trait PostgresReadiness {
    /// Adds the `postgres` check on `db`.
    #[must_use]
    fn with_postgres(self, db: &Db) -> Self;
}

impl PostgresReadiness for df_common::lifecycle::Readiness {
    fn with_postgres(self, db: &Db) -> Self {
        let db = db.clone();
        self.with_check("postgres", move || {
            let db = db.clone();
            async move { db.ping().await }
        })
    }
}
