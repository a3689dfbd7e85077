//! Starts identity alone in this process (its `testing` entry), on its own database, Redis
//! prefix and bus namespace, and holds the gateway's signing key to call it as the gateway
//! would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use df_common::auth::TokenSigner;
use df_identity::{IdentityConfig, testing::TestIdentity};
use df_proto::identity::v1::identity_client::IdentityClient;
use df_testkit::{TestDb, TestEnv};

/// A running identity service.
pub struct Running {
    /// A plaintext client of its gRPC listener.
    pub client: IdentityClient<tonic::transport::Channel>,
    /// Its gRPC address.
    pub addr: SocketAddr,
    /// Signs tokens it accepts (the gateway's key).
    pub signer: Arc<TokenSigner>,
    identity: TestIdentity,
    _env: TestEnv,
}

impl Running {
    /// Its database.
    pub fn db(&self) -> &TestDb {
        &self.identity.service.db
    }

    /// Stops it and waits until it drained.
    pub async fn stop(mut self) {
        self.identity.service.stop().await;
    }
}

/// Identity with the test defaults.
pub async fn start() -> Running {
    start_with(|_| {}).await
}

/// Identity with a change to its configuration.
pub async fn start_with(adjust: impl FnOnce(&mut IdentityConfig)) -> Running {
    let mut env = TestEnv::new();
    let identity = TestIdentity::start(&mut env, adjust).await;
    let addr = identity.service.grpc_addr;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    Running {
        client: IdentityClient::new(channel),
        addr,
        signer: env.gateway_signer(),
        identity,
        _env: env,
    }
}
