//! Every service in this process for an end-to-end test, each through its own `testing`
//! entry on ephemeral ports, sharing one [`TestEnv`] (Redis prefix, bus namespace, internal
//! keys), and the helpers end-to-end tests need (an HTTP client, the email outbox, a verified
//! user, bearer-authenticated JSON calls).
//!
//! The platform knows no service but identity (whose accounts every test needs): any other is
//! a [`Member`] a test names, `Platform::builder().with::<TestPayments>()`, and the gateway
//! is pointed at whatever runs.

// Test support: a failed step is a failed test, with its value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{any::Any, net::SocketAddr, sync::Arc, time::Duration};

use df_common::{auth::TokenSigner, cache::Cache};
use df_gateway::{GatewayConfig, testing::TestGateway};
use df_identity::{IdentityConfig, testing::TestIdentity};
use df_testkit::{Member, RunningService, Surroundings, TestCa, TestDb, TestEnv};
use futures::future::BoxFuture;

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
    /// In start order; identity first.
    members: Vec<Box<dyn Running>>,
    gateway: TestGateway,
    /// What the services share: Redis prefix, bus namespace, keys, internal CA. Last, so that
    /// it is dropped last: the services are told to stop before their queues are deleted, and
    /// a consumer still running would declare its queue again and leave it behind.
    pub env: TestEnv,
}

/// A change a test makes to a service's configuration.
type Adjust<T> = Box<dyn FnOnce(&mut T) + Send>;

/// A member that runs, whatever its type.
trait Running: Send + Sync {
    fn name(&self) -> &'static str;
    fn service(&mut self) -> &mut RunningService;
    fn as_any(&self) -> &dyn Any;
}

impl<T: Member> Running for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn service(&mut self) -> &mut RunningService {
        self.running()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Starts a member with the changes a test made to its configuration.
type Starter = for<'a> fn(
    &'a mut TestEnv,
    &'a Surroundings,
    Vec<Box<dyn Any + Send>>,
) -> BoxFuture<'a, Box<dyn Running>>;

/// A member to start, with the changes the test made to its configuration (each an
/// `Adjust<M::Config>`, boxed as `Any` so that members of any type fit one list).
struct Pending {
    name: &'static str,
    adjust: Vec<Box<dyn Any + Send>>,
    start: Starter,
}

fn start_pending<'a, M: Member>(
    env: &'a mut TestEnv,
    around: &'a Surroundings,
    adjust: Vec<Box<dyn Any + Send>>,
) -> BoxFuture<'a, Box<dyn Running>> {
    let adjust: Vec<Adjust<M::Config>> = adjust
        .into_iter()
        .map(|change| {
            *change
                .downcast()
                .expect("a change of this member's configuration")
        })
        .collect();
    Box::pin(async move {
        let member = M::start_member(env, around, |config| {
            adjust.into_iter().for_each(|f| f(config));
        })
        .await;
        Box::new(member) as Box<dyn Running>
    })
}

/// Which services run, and how each is configured.
pub struct PlatformBuilder {
    members: Vec<Pending>,
    gateway: Vec<Adjust<GatewayConfig>>,
    env: TestEnv,
}

impl Platform {
    /// Identity and the gateway; more with [`PlatformBuilder::with`].
    pub fn builder() -> PlatformBuilder {
        PlatformBuilder {
            members: Vec::new(),
            gateway: Vec::new(),
            env: TestEnv::new(),
        }
        .with::<TestIdentity>()
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

    /// Member `M` (started with [`PlatformBuilder::with`]).
    pub fn member<M: Member>(&self) -> &M {
        self.members
            .iter()
            .find_map(|member| member.as_any().downcast_ref::<M>())
            .unwrap_or_else(|| panic!("the platform was started without {}", M::NAME))
    }

    /// Identity, with its data builders and mail outbox.
    pub fn identity(&self) -> &TestIdentity {
        self.member()
    }

    /// Identity's gRPC address.
    pub fn identity_addr(&self) -> SocketAddr {
        self.identity().service.grpc_addr
    }

    /// Identity's database.
    pub fn identity_db(&self) -> &TestDb {
        &self.identity().service.db
    }

    /// Identity's cache, as identity sees it (its key prefix).
    pub fn identity_cache(&self) -> Cache {
        Cache::connect(&self.env.redis_config(df_identity::SERVICE)).unwrap()
    }

    /// The CA of the internal TLS certificates (with [`PlatformBuilder::internal_tls`]).
    pub fn internal_ca(&self) -> Option<&TestCa> {
        self.env.internal_ca.as_ref()
    }

    /// Every email written so far, as raw text, oldest first.
    pub fn emails(&self) -> Vec<String> {
        self.identity().emails()
    }

    /// Waits (up to 20 s) for an email to `to` whose text contains `needle`, and returns it.
    pub async fn wait_for_email(&self, to: &str, needle: &str) -> String {
        self.identity().wait_for_email(to, needle).await
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

    /// Signs up `name` (`<name>@example.com`) with `role`, verifies and logs in; the session
    /// token and the user id.
    pub async fn signed_in(&self, name: &str, role: &str) -> (String, String) {
        let email = format!("{name}@example.com");
        let password = self.verified_user(&email, name, role).await;
        let token = self.login(&email, &password).await;
        let (status, me) = self.get_json("/v1/me", &token).await;
        assert_eq!(status, 200, "{me}");
        (token, me["id"].as_str().unwrap().to_owned())
    }

    /// Stops the services (the gateway first, then the members in reverse start order) and
    /// waits for them to drain.
    pub async fn stop(mut self) {
        self.gateway.stop().await;
        for member in self.members.iter_mut().rev() {
            member.service().stop().await;
        }
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
    /// Also starts member `M` (after those named before it), and points the gateway at it.
    pub fn with<M: Member>(mut self) -> Self {
        self.pending::<M>();
        self
    }

    /// Changes the configuration of member `M` (and starts it).
    pub fn configure<M: Member>(
        mut self,
        change: impl FnOnce(&mut M::Config) + Send + 'static,
    ) -> Self {
        let change: Adjust<M::Config> = Box::new(change);
        self.pending::<M>().adjust.push(Box::new(change));
        self
    }

    fn pending<M: Member>(&mut self) -> &mut Pending {
        let index = match self.members.iter().position(|p| p.name == M::NAME) {
            Some(index) => index,
            None => {
                self.members.push(Pending {
                    name: M::NAME,
                    adjust: Vec::new(),
                    start: start_pending::<M>,
                });
                self.members.len() - 1
            }
        };
        &mut self.members[index]
    }

    /// Changes identity's configuration.
    pub fn identity(self, change: impl FnOnce(&mut IdentityConfig) + Send + 'static) -> Self {
        self.configure::<TestIdentity>(change)
    }

    /// Changes the gateway's configuration.
    pub fn gateway(mut self, f: impl FnOnce(&mut GatewayConfig) + Send + 'static) -> Self {
        self.gateway.push(Box::new(f));
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

    /// Starts the members in order, then the gateway in front of them, and waits until each
    /// is ready.
    pub async fn start(self) -> Platform {
        let Self {
            members: pending,
            gateway: gateway_adjust,
            mut env,
        } = self;
        let (http, gateway_url) = TestGateway::bind();
        let mut around = Surroundings {
            gateway_url: gateway_url.clone(),
            app_origin: TEST_ORIGIN.to_owned(),
            started: Vec::new(),
        };
        let mut members = Vec::with_capacity(pending.len());
        for Pending { adjust, start, .. } in pending {
            let mut member = start(&mut env, &around, adjust).await;
            let url = env.grpc_url(member.service().grpc_addr);
            around.started.push((member.name(), url));
            members.push(member);
        }
        let upstreams: Vec<(&str, SocketAddr)> = members
            .iter_mut()
            .map(|member| (member.name(), member.service().grpc_addr))
            .collect();
        let gateway = TestGateway::start(&env, http, &upstreams, TEST_ORIGIN, |config| {
            gateway_adjust.into_iter().for_each(|f| f(config));
        })
        .await;
        Platform {
            gateway_admin_url: gateway.admin_url.clone(),
            gateway_url,
            signer: env.gateway_signer(),
            env,
            members,
            gateway,
        }
    }
}
