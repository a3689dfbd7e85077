//! Starts identity and the gateway (and, on request, payments with the simulated provider) in
//! this process on ephemeral ports, each test with its own databases, Redis prefix, bus
//! namespace and mail directory, and offers the helpers end-to-end tests need (an HTTP client,
//! the email outbox, a verified user, bearer-authenticated JSON calls).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
    time::Duration,
};

use base64::Engine;
use df_common::{auth::TokenSigner, config::InternalAuthConfig, secret::Secret};
use df_gateway::GatewayConfig;
use df_identity::IdentityConfig;
use df_payments::{PaymentsConfig, provider::simulated::SimulatedProvider};
use tokio_util::sync::CancellationToken;

use crate::{TestBus, TestCa, TestDb, TestRedis};

/// A running platform.
pub struct Platform {
    /// `http://127.0.0.1:<port>`.
    pub gateway_url: String,
    /// Gateway admin listener (`/healthz`, `/readyz`, `/metrics`).
    pub gateway_admin_url: String,
    /// Identity's gRPC address.
    pub identity_addr: SocketAddr,
    /// Identity admin listener.
    pub identity_admin_url: String,
    /// Signs principal tokens the services accept.
    pub signer: Arc<TokenSigner>,
    /// Identity's database.
    pub db: TestDb,
    /// The Redis prefix.
    pub redis: TestRedis,
    /// The bus namespace.
    pub bus: TestBus,
    /// Payments' gRPC address (only with [`PlatformBuilder::with_payments`]).
    pub payments_addr: Option<SocketAddr>,
    /// Payments' admin listener.
    pub payments_admin_url: Option<String>,
    /// Payments' database.
    pub payments_db: Option<TestDb>,
    /// Where the simulated provider serves its hosted pages.
    pub provider_url: Option<String>,
    /// The webhook signing secret: payments verifies with it, the simulated provider signs
    /// with it.
    pub webhook_secret: Option<Secret<String>>,
    /// Payments' clock (move it with [`SimulatedProvider::advance`], which also does what the
    /// provider would have done meanwhile).
    pub clock: df_payments::Clock,
    simulated: Arc<OnceLock<SimulatedProvider>>,
    /// The CA of the internal TLS certificates (with [`PlatformBuilder::internal_tls`]).
    pub internal_ca: Option<TestCa>,
    mail_dir: tempfile::TempDir,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A change a test makes to a service's configuration.
type Adjust<T> = Box<dyn FnOnce(&mut T) + Send>;

/// Adjusts configuration before start.
pub struct PlatformBuilder {
    identity: Vec<Adjust<IdentityConfig>>,
    gateway: Vec<Adjust<GatewayConfig>>,
    payments: Option<Vec<Adjust<PaymentsConfig>>>,
    redis_url: Option<String>,
    redis_ca_file: Option<PathBuf>,
    internal_tls: bool,
}

/// The origin test browsers pretend to come from.
pub const TEST_ORIGIN: &str = "https://app.directfanz.test";

impl Platform {
    /// A builder.
    pub fn builder() -> PlatformBuilder {
        PlatformBuilder {
            identity: Vec::new(),
            gateway: Vec::new(),
            payments: None,
            redis_url: None,
            redis_ca_file: None,
            internal_tls: false,
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
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
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
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// GETs `path` with `Authorization: Bearer <token>`; see [`Platform::send_json`].
    pub async fn get_json(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.send_json(reqwest::Method::GET, path, token, None)
            .await
    }

    /// The simulated payment provider (with [`PlatformBuilder::with_payments`]).
    pub fn simulated(&self) -> &SimulatedProvider {
        self.simulated
            .get()
            .expect("the platform was started with payments")
    }

    /// The mail outbox directory.
    pub fn mail_dir(&self) -> &Path {
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

    /// Waits (up to 20 s) for an email to `to` whose text contains `needle`, and returns it.
    pub async fn wait_for_email(&self, to: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(mail) = self
                .emails()
                .into_iter()
                .find(|m| m.contains(&format!("To: {to}")) && m.contains(needle))
            {
                return mail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no email to {to} containing {needle:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signs up `email`, follows the verification link and returns the password.
    pub async fn verified_user(&self, email: &str, username: &str, role: &str) -> String {
        let password = "quiet orbit lantern 7 maple".to_owned();
        let response = self
            .http()
            .post(self.url("/v1/auth/signup"))
            .json(&serde_json::json!({"email": email, "username": username, "password": password, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            202,
            "{}",
            response.text().await.unwrap_or_default()
        );
        let mail = self.wait_for_email(email, "verify-email?token=").await;
        let token = token_from_link(&mail, "verify-email?token=");
        let response = self
            .http()
            .post(self.url("/v1/auth/verify-email"))
            .json(&serde_json::json!({"token": token}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        password
    }

    /// Logs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self
            .http()
            .post(self.url("/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = response.json().await.unwrap();
        body["session_token"].as_str().unwrap().to_owned()
    }

    /// Stops the services and waits for them to drain.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
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

    /// Points both services at another Redis URL (e.g. a fault proxy).
    pub fn redis_url(mut self, url: String) -> Self {
        self.redis_url = Some(url);
        self
    }

    /// Serves every internal gRPC listener over TLS only, with certificates from a CA made for
    /// the test, and has the gateway verify them (as the chart's production values do).
    pub fn internal_tls(mut self) -> Self {
        self.internal_tls = true;
        self
    }

    /// Points every service at a TLS Redis (`rediss://`) whose certificate chains to `ca_file`.
    pub fn redis_tls(mut self, url: String, ca_file: PathBuf) -> Self {
        self.redis_url = Some(url);
        self.redis_ca_file = Some(ca_file);
        self
    }

    /// Starts identity and the gateway and waits until the gateway answers.
    pub async fn start(self) -> Platform {
        df_common::telemetry::init_for_tests();
        let db = TestDb::new(
            "identity",
            df_identity::MIGRATIONS,
            &identity_migrations_dir(),
        )
        .await;
        let redis = TestRedis::new();
        let bus = TestBus::new();
        let mail_dir = tempfile::tempdir().unwrap();
        let (seed, public) = df_common::auth::generate_key_pair();
        let internal_auth = InternalAuthConfig {
            signing_key: Some(seed),
            signing_key_id: "k1".into(),
            verifying_keys: Default::default(),
            token_ttl_secs: 60,
        };
        let signer = Arc::new(
            TokenSigner::from_config(&internal_auth, df_common::auth::service::GATEWAY).unwrap(),
        );
        let identity_auth = InternalAuthConfig {
            signing_key: None,
            verifying_keys: [("k1".to_owned(), public)].into_iter().collect(),
            ..internal_auth.clone()
        };
        let csrf_key = base64::engine::general_purpose::STANDARD.encode(rand_key());
        let redis_config = match &self.redis_url {
            Some(url) => redis.config_for(url),
            None => redis.config(),
        };
        let redis_config = df_common::config::RedisConfig {
            ca_file: self.redis_ca_file.clone(),
            ..redis_config
        };

        let mut identity = IdentityConfig::default();
        identity.base.database = db.config();
        identity.base.redis = redis_config.clone();
        identity.base.bus = bus.config();
        identity.base.internal_auth = identity_auth.clone();
        identity.own.mail.outbox_dir = mail_dir.path().to_owned();
        identity.own.mail.encryption = df_common::keyring::EncryptionConfig::ephemeral();
        identity.own.identity.public_app_url = TEST_ORIGIN.into();
        for f in self.identity {
            f(&mut identity);
        }
        let identity_listeners = df_runtime::Listeners {
            grpc: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let identity_addr = identity_listeners.grpc.local_addr().unwrap();
        let identity_admin_url =
            format!("http://{}", identity_listeners.admin.local_addr().unwrap());

        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gateway_url = format!("http://{}", http.local_addr().unwrap());
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway_admin_url = format!("http://{}", admin.local_addr().unwrap());

        let clock = df_payments::Clock::system();
        let simulated = Arc::new(OnceLock::new());
        let mut payments = match self.payments {
            Some(adjust) => Some(
                PaymentsSetup::new(
                    &redis_config,
                    &bus,
                    identity_auth.clone(),
                    &gateway_url,
                    adjust,
                )
                .await,
            ),
            None => None,
        };

        let mut internal_ca = self.internal_tls.then(TestCa::new);
        if let Some(ca) = internal_ca.as_mut() {
            identity.base.grpc.tls = Some(server_tls(ca));
            if let Some(payments) = payments.as_mut() {
                payments.config.base.grpc.tls = Some(server_tls(ca));
            }
        }
        let mut gateway = GatewayConfig {
            redis: redis_config,
            internal_auth,
            ..GatewayConfig::default()
        };
        gateway.identity.url = format!("http://{identity_addr}");
        if let Some(payments) = &payments {
            gateway.payments.url = format!("http://{}", payments.grpc_addr);
        }
        if let Some(ca) = internal_ca.as_ref() {
            gateway.identity.url = format!("https://localhost:{}", identity_addr.port());
            gateway.identity.tls = Some(client_tls(ca));
            if payments.is_some() {
                gateway.payments.url = gateway
                    .payments
                    .url
                    .replace("http://127.0.0.1", "https://localhost");
                gateway.payments.tls = Some(client_tls(ca));
            }
        }
        gateway.http.workers = 2;
        gateway.security.allowed_origins = vec![TEST_ORIGIN.into()];
        gateway.security.csrf_key = csrf_key.into();
        for f in self.gateway {
            f(&mut gateway);
        }

        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let mut payments_parts = None;
        if let Some(setup) = payments {
            let PaymentsSetup {
                db,
                config,
                listeners,
                simulated_pages,
                grpc_addr,
                admin_url,
                provider_url,
                secret,
            } = setup;
            let wiring = df_payments::Wiring {
                clock: Some(clock.clone()),
                simulated_pages: Some(simulated_pages),
                simulated: Some(simulated.clone()),
                service: None,
            };
            let token = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = df_payments::serve(config, listeners, wiring, token).await {
                    panic!("payments stopped: {e:?}");
                }
            }));
            payments_parts = Some((db, grpc_addr, admin_url, provider_url, secret));
        }
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) =
                df_identity::serve(identity, identity_listeners, Default::default(), token).await
            {
                panic!("identity stopped: {e:?}");
            }
        }));
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) =
                df_gateway::serve(gateway, df_gateway::Listeners { http, admin }, token).await
            {
                panic!("gateway stopped: {e:?}");
            }
        }));
        let (payments_db, payments_addr, payments_admin_url, provider_url, webhook_secret) =
            match payments_parts {
                Some((db, addr, admin, provider, secret)) => (
                    Some(db),
                    Some(addr),
                    Some(admin),
                    Some(provider),
                    Some(secret),
                ),
                None => Default::default(),
            };
        let platform = Platform {
            gateway_url,
            gateway_admin_url,
            identity_addr,
            identity_admin_url,
            signer,
            db,
            redis,
            bus,
            payments_addr,
            payments_admin_url,
            payments_db,
            provider_url,
            webhook_secret,
            clock,
            simulated,
            internal_ca,
            mail_dir,
            shutdown,
            tasks,
        };
        platform.wait_until_ready().await;
        platform
    }
}

impl Platform {
    async fn wait_until_ready(&self) {
        let client = self.http();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let payments = self
            .payments_admin_url
            .as_ref()
            .map(|url| format!("{url}/readyz"));
        for url in [
            format!("{}/readyz", self.identity_admin_url),
            format!("{}/readyz", self.gateway_admin_url),
        ]
        .into_iter()
        .chain(payments)
        {
            loop {
                if client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{url} never became ready"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Payments, configured and bound but not yet running.
struct PaymentsSetup {
    db: TestDb,
    config: PaymentsConfig,
    listeners: df_runtime::Listeners,
    simulated_pages: tokio::net::TcpListener,
    grpc_addr: SocketAddr,
    admin_url: String,
    provider_url: String,
    secret: Secret<String>,
}

impl PaymentsSetup {
    /// A fresh database, the platform's Redis (under a prefix of its own) and bus namespace,
    /// identity's verifying key, and the simulated provider delivering to the gateway's webhook
    /// route, as in production.
    async fn new(
        redis: &df_common::config::RedisConfig,
        bus: &TestBus,
        internal_auth: InternalAuthConfig,
        gateway_url: &str,
        adjust: Vec<Adjust<PaymentsConfig>>,
    ) -> Self {
        let db = TestDb::new(
            "payments",
            df_payments::MIGRATIONS,
            &payments_migrations_dir(),
        )
        .await;
        let listeners = df_runtime::Listeners {
            grpc: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let simulated_pages = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc_addr = listeners.grpc.local_addr().unwrap();
        let admin_url = format!("http://{}", listeners.admin.local_addr().unwrap());
        let provider_addr = simulated_pages.local_addr().unwrap();
        let provider_url = format!("http://{provider_addr}");
        let secret: Secret<String> = uuid::Uuid::new_v4().simple().to_string().into();
        let mut config = PaymentsConfig::default();
        config.base.database = db.config();
        config.base.redis = df_common::config::RedisConfig {
            key_prefix: format!("{}payments:", redis.key_prefix),
            ..redis.clone()
        };
        config.base.bus = bus.config();
        config.base.internal_auth = internal_auth;
        let own = &mut config.own;
        own.provider.kind = df_payments::config::ProviderKind::Simulated;
        own.provider.simulated.listen = provider_addr;
        own.provider.simulated.public_url = provider_url.clone();
        own.provider.simulated.webhook_url = format!("{gateway_url}/v1/webhooks/stripe");
        own.webhooks.signing_secret = secret.clone();
        own.tax = df_payments::tax::TaxConfig::ephemeral();
        own.checkout.return_origins = vec![TEST_ORIGIN.into()];
        for f in adjust {
            f(&mut config);
        }
        Self {
            db,
            config,
            listeners,
            simulated_pages,
            grpc_addr,
            admin_url,
            provider_url,
            secret,
        }
    }
}

/// A listener certificate for `localhost` from `ca`.
fn server_tls(ca: &mut TestCa) -> df_common::grpc::tls::ServerTls {
    let files = ca.server(&["localhost"]);
    df_common::grpc::tls::ServerTls {
        cert_file: files.cert_file,
        key_file: files.key_file,
        client_ca_file: None,
    }
}

/// A client trusting `ca`.
fn client_tls(ca: &TestCa) -> df_common::grpc::tls::ClientTls {
    df_common::grpc::tls::ClientTls {
        ca_file: Some(ca.ca_file.clone()),
        ..Default::default()
    }
}

fn rand_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    for (i, b) in uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .enumerate()
    {
        key[i] = *b;
    }
    key
}

fn identity_migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../identity/migrations")
}

fn payments_migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../payments/migrations")
}
