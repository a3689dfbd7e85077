//! Every service in this process for an end-to-end test, each through its own `testing`
//! entry on ephemeral ports, sharing one [`TestEnv`] (Redis prefix, bus namespace, internal
//! keys), and the helpers end-to-end tests need (an HTTP client, the email outbox, a verified
//! user, bearer-authenticated JSON calls).

// Test support: a failed step is a failed test, with its value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use df_common::{auth::TokenSigner, cache::Cache};
use df_gateway::{
    GatewayConfig,
    testing::{TestGateway, Upstreams},
};
use df_identity::{IdentityConfig, testing::TestIdentity};
use df_payments::{PaymentsConfig, provider::simulated::SimulatedProvider, testing::TestPayments};
use df_testkit::{TestCa, TestDb, TestEnv};

/// The origin test browsers pretend to come from.
pub const TEST_ORIGIN: &str = "https://app.directfanz.test";

/// A running platform.
pub struct Platform {
    /// `http://127.0.0.1:<port>`.
    pub gateway_url: String,
    /// Gateway admin listener (`/healthz`, `/readyz`, `/metrics`).
    pub gateway_admin_url: String,
    /// Signs principal tokens the services accept (the gateway's key).
    pub signer: Arc<TokenSigner>,
    /// What the services share: Redis prefix, bus namespace, keys, internal CA.
    pub env: TestEnv,
    identity: TestIdentity,
    payments: Option<TestPayments>,
    gateway: TestGateway,
}

/// A change a test makes to a service's configuration.
type Adjust<T> = Box<dyn FnOnce(&mut T) + Send>;

/// Which services run, and how each is configured.
pub struct PlatformBuilder {
    identity: Vec<Adjust<IdentityConfig>>,
    gateway: Vec<Adjust<GatewayConfig>>,
    payments: Option<Vec<Adjust<PaymentsConfig>>>,
    env: TestEnv,
}

impl Platform {
    /// Identity and the gateway; more with the builder.
    pub fn builder() -> PlatformBuilder {
        PlatformBuilder {
            identity: Vec::new(),
            gateway: Vec::new(),
            payments: None,
            env: TestEnv::new(),
        }
    }

    /// Starts with default test settings.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// An HTTP client that keeps no cookies.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// `gateway_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway_url)
    }

    /// POSTs `body` as JSON to `path`; returns the status and the JSON answer (`Null` when the
    /// answer is empty or not JSON).
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http()
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Sends a request with `Authorization: Bearer <token>` and `body` (if any) as JSON; returns
    /// the status and the JSON answer (`Null` when the answer is empty or not JSON).
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http()
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    /// GETs `path` with `Authorization: Bearer <token>`; see [`Platform::send_json`].
    pub async fn get_json(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.send_json(reqwest::Method::GET, path, token, None)
            .await
    }

    /// Identity, with its data builders and mail outbox.
    pub fn identity(&self) -> &TestIdentity {
        &self.identity
    }

    /// Identity's gRPC address.
    pub fn identity_addr(&self) -> SocketAddr {
        self.identity.service.grpc_addr
    }

    /// Identity's database.
    pub fn identity_db(&self) -> &TestDb {
        &self.identity.service.db
    }

    /// Identity's cache, as identity sees it (its key prefix).
    pub fn identity_cache(&self) -> Cache {
        Cache::connect(&self.env.redis_config(df_identity::SERVICE)).unwrap()
    }

    /// Payments (with [`PlatformBuilder::with_payments`]).
    pub fn payments(&self) -> &TestPayments {
        self.payments
            .as_ref()
            .expect("the platform was started with payments")
    }

    /// The simulated payment provider (with [`PlatformBuilder::with_payments`]).
    pub fn simulated(&self) -> &SimulatedProvider {
        self.payments().simulated()
    }

    /// The CA of the internal TLS certificates (with [`PlatformBuilder::internal_tls`]).
    pub fn internal_ca(&self) -> Option<&TestCa> {
        self.env.internal_ca.as_ref()
    }

    /// Every email written so far, as raw text, oldest first.
    pub fn emails(&self) -> Vec<String> {
        self.identity.emails()
    }

    /// Waits (up to 20 s) for an email to `to` whose text contains `needle`, and returns it.
    pub async fn wait_for_email(&self, to: &str, needle: &str) -> String {
        self.identity.wait_for_email(to, needle).await
    }

    /// Signs up `email`, follows the verification link and returns the password.
    pub async fn verified_user(&self, email: &str, username: &str, role: &str) -> String {
        let password = "quiet orbit lantern 7 maple".to_owned();
        let (status, problem) = self
            .post_json(
                "/v1/auth/signup",
                serde_json::json!({"email": email, "username": username, "password": password, "role": role}),
            )
            .await;
        assert_eq!(status, 202, "{problem}");
        let mail = self.wait_for_email(email, "verify-email?token=").await;
        let token = token_from_link(&mail, "verify-email?token=");
        let (status, problem) = self
            .post_json("/v1/auth/verify-email", serde_json::json!({"token": token}))
            .await;
        assert_eq!(status, 200, "{problem}");
        password
    }

    /// Logs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .post_json(
                "/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["session_token"].as_str().unwrap().to_owned()
    }

    /// Stops the services (the gateway first) and waits for them to drain.
    pub async fn stop(mut self) {
        self.gateway.stop().await;
        if let Some(payments) = self.payments.as_mut() {
            payments.service.stop().await;
        }
        self.identity.service.stop().await;
    }
}

async fn answer(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// The `Set-Cookie` line that sets cookie `name`, attributes included.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}"))
        .to_owned()
}

/// The token after `marker` in an email body (up to the end of the line).
pub fn token_from_link(mail: &str, marker: &str) -> String {
    let start = mail
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {mail}"))
        + marker.len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

impl PlatformBuilder {
    /// Changes identity's configuration.
    pub fn identity(mut self, f: impl FnOnce(&mut IdentityConfig) + Send + 'static) -> Self {
        self.identity.push(Box::new(f));
        self
    }

    /// Changes the gateway's configuration.
    pub fn gateway(mut self, f: impl FnOnce(&mut GatewayConfig) + Send + 'static) -> Self {
        self.gateway.push(Box::new(f));
        self
    }

    /// Also starts payments, with the simulated provider delivering its webhooks to the gateway.
    pub fn with_payments(mut self) -> Self {
        self.payments.get_or_insert_with(Vec::new);
        self
    }

    /// Changes payments' configuration (and starts payments).
    pub fn payments(mut self, f: impl FnOnce(&mut PaymentsConfig) + Send + 'static) -> Self {
        self.payments.get_or_insert_with(Vec::new).push(Box::new(f));
        self
    }

    /// Points every service at another Redis URL (e.g. a fault proxy).
    pub fn redis_url(mut self, url: String) -> Self {
        self.env = self.env.with_redis_url(url, None);
        self
    }

    /// Serves every internal gRPC listener over TLS only, with certificates from a CA made for
    /// the test, and has the gateway verify them (as the chart's production values do).
    pub fn internal_tls(mut self) -> Self {
        self.env = self.env.with_internal_tls();
        self
    }

    /// Points every service at a TLS Redis (`rediss://`) whose certificate chains to `ca_file`.
    pub fn redis_tls(mut self, url: String, ca_file: std::path::PathBuf) -> Self {
        self.env = self.env.with_redis_url(url, Some(ca_file));
        self
    }

    /// Starts the services, the gateway last, and waits until each is ready.
    pub async fn start(self) -> Platform {
        let Self {
            identity: identity_adjust,
            gateway: gateway_adjust,
            payments: payments_adjust,
            mut env,
        } = self;
        let (http, gateway_url) = TestGateway::bind();
        let identity = TestIdentity::start(&mut env, |config| {
            config.own.identity.public_app_url = TEST_ORIGIN.into();
            identity_adjust.into_iter().for_each(|f| f(config));
        })
        .await;
        let payments = match payments_adjust {
            Some(adjust) => Some(
                TestPayments::start(
                    &mut env,
                    &format!("{gateway_url}/v1/webhooks/stripe"),
                    TEST_ORIGIN,
                    |config| adjust.into_iter().for_each(|f| f(config)),
                )
                .await,
            ),
            None => None,
        };
        let upstreams = Upstreams {
            identity: identity.service.grpc_addr,
            payments: payments.as_ref().map(|p| p.service.grpc_addr),
        };
        let gateway = TestGateway::start(&env, http, upstreams, TEST_ORIGIN, |config| {
            gateway_adjust.into_iter().for_each(|f| f(config));
        })
        .await;
        Platform {
            gateway_admin_url: gateway.admin_url.clone(),
            gateway_url,
            signer: env.gateway_signer(),
            env,
            identity,
            payments,
            gateway,
        }
    }
}
