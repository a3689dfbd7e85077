//! Starts identity alone in this process, on its own database, Redis prefix and bus namespace,
//! and holds the gateway's signing key to call it as the gateway would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use df_common::{
    auth::{TokenSigner, service},
    config::InternalAuthConfig,
};
use df_identity::IdentityConfig;
use df_proto::identity::v1::identity_client::IdentityClient;
use df_runtime::Listeners;
use df_testkit::{TestBus, TestDb, TestRedis};
use tokio_util::sync::CancellationToken;

/// A running identity service.
pub struct Running {
    /// A plaintext client of its gRPC listener.
    pub client: IdentityClient<tonic::transport::Channel>,
    /// Its gRPC address.
    pub addr: SocketAddr,
    /// Signs tokens it accepts (the gateway's key).
    pub signer: Arc<TokenSigner>,
    /// Stops it.
    pub shutdown: CancellationToken,
    /// Its database.
    pub db: TestDb,
    _redis: TestRedis,
    _bus: TestBus,
    _mail: tempfile::TempDir,
}

/// Identity with the test defaults.
pub async fn start() -> Running {
    start_with(|_| {}).await
}

/// Identity with a change to its configuration.
pub async fn start_with(adjust: impl FnOnce(&mut IdentityConfig)) -> Running {
    let db = TestDb::new(
        "identity",
        df_identity::MIGRATIONS,
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
    )
    .await;
    let redis = TestRedis::new();
    let bus = TestBus::new();
    let mail = tempfile::tempdir().unwrap();
    let (seed, public) = df_common::auth::generate_key_pair();
    let gateway_keys = InternalAuthConfig {
        signing_key: Some(seed),
        ..InternalAuthConfig::default()
    };
    let mut config = IdentityConfig::default();
    config.base.database = db.config();
    config.base.redis = redis.config();
    config.base.bus = bus.config();
    config.own.mail.outbox_dir = mail.path().to_owned();
    config.own.mail.encryption = df_common::keyring::EncryptionConfig::ephemeral();
    config.base.internal_auth = InternalAuthConfig {
        verifying_keys: [("k1".to_owned(), public)].into_iter().collect(),
        ..InternalAuthConfig::default()
    };
    adjust(&mut config);
    let listeners = Listeners {
        grpc: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let addr = listeners.grpc.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(df_identity::serve(
        config,
        listeners,
        df_common::clock::Clock::system(),
        shutdown.clone(),
    ));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    Running {
        client: IdentityClient::new(channel),
        addr,
        signer: Arc::new(TokenSigner::from_config(&gateway_keys, service::GATEWAY).unwrap()),
        shutdown,
        db,
        _redis: redis,
        _bus: bus,
        _mail: mail,
    }
}
