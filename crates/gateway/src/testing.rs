//! The gateway under test (feature `testing`): started in this process on ephemeral ports in
//! front of services a test started, with the test's keys, Redis prefix and browser origin.

// Test support: a failed setup step is a failed test, with its value in the message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;

use base64::Engine;
use df_testkit::{
    TestEnv,
    service::{stop_task, wait_until_ready},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{GatewayConfig, Listeners, SERVICE};

/// The gateway running for a test.
pub struct TestGateway {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its admin listener.
    pub admin_url: String,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// The services a test's gateway calls: each upstream's name and gRPC address.
pub type Upstreams<'a> = &'a [(&'a str, SocketAddr)];

impl TestGateway {
    /// Binds the public listener first: services that call back into the gateway (the
    /// simulated provider's webhooks) need its URL before it starts.
    pub fn bind() -> (std::net::TcpListener, String) {
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", http.local_addr().unwrap());
        (http, url)
    }

    /// Starts the gateway on `http` in front of `upstreams`, allowing browsers from
    /// `app_origin`; changed by `adjust`. Returns once it reports ready.
    pub async fn start(
        env: &TestEnv,
        http: std::net::TcpListener,
        upstreams: Upstreams<'_>,
        app_origin: &str,
        adjust: impl FnOnce(&mut GatewayConfig),
    ) -> Self {
        let gateway = Self::launch(env, http, upstreams, app_origin, adjust).await;
        wait_until_ready(&gateway.admin_url, SERVICE).await;
        gateway
    }

    /// Like [`TestGateway::start`], without waiting for readiness (tests of readiness itself).
    pub async fn launch(
        env: &TestEnv,
        http: std::net::TcpListener,
        upstreams: Upstreams<'_>,
        app_origin: &str,
        adjust: impl FnOnce(&mut GatewayConfig),
    ) -> Self {
        let url = format!("http://{}", http.local_addr().unwrap());
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_url = format!("http://{}", admin.local_addr().unwrap());
        let mut config = GatewayConfig {
            redis: env.redis_config(SERVICE),
            internal_auth: env.internal_auth.clone(),
            ..GatewayConfig::default()
        };
        for &(name, address) in upstreams {
            let upstream = config.upstream_mut(name);
            upstream.url = env.grpc_url(address);
            upstream.tls = env.client_tls();
        }
        config.http.workers = 2;
        config.security.allowed_origins = vec![app_origin.to_owned()];
        config.security.csrf_key = base64::engine::general_purpose::STANDARD
            .encode(rand::random::<[u8; 32]>())
            .into();
        adjust(&mut config);
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = crate::serve(config, Listeners { http, admin }, stop).await {
                panic!("gateway stopped: {error:?}");
            }
        });
        Self {
            url,
            admin_url,
            shutdown,
            task: Some(task),
        }
    }

    /// Stops the gateway and waits (up to 30 s) until it drained.
    pub async fn stop(&mut self) {
        stop_task(&self.shutdown, self.task.take()).await;
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
