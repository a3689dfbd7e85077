//! The generic half of starting a service under test: what every service of one test shares
//! ([`TestEnv`]: a Redis prefix, a bus namespace, the internal keys and optionally an internal
//! CA), the test settings of the sections every service reads ([`TestEnv::base`]), ephemeral
//! listeners, and a handle on a service running in this process ([`RunningService`]). Each
//! service's own `testing` entry adds its sections and starts it.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use df_common::{
    auth::{TokenSigner, service},
    config::{InternalAuthConfig, RedisConfig},
    grpc::tls::{ClientTls, ServerTls},
};
use df_runtime::{Listeners, ServiceBase};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{TestBus, TestCa, TestDb, TestRedis};

/// The services that call others as themselves, each with a key of its own.
const SERVICES_WITH_OWN_KEYS: &[&str] = &[service::MEDIA];

/// What the services of one test share.
pub struct TestEnv {
    /// The test's Redis prefix; each service keys under `<prefix><service>:`.
    pub redis: TestRedis,
    /// The test's bus namespace.
    pub bus: TestBus,
    /// The keys the gateway signs principal tokens with; services verify them.
    pub internal_auth: InternalAuthConfig,
    verifying_key: String,
    /// Each service's own key pair, with which it calls others as itself.
    service_keys:
        std::collections::BTreeMap<&'static str, (df_common::secret::Secret<String>, String)>,
    redis_url: Option<String>,
    redis_ca_file: Option<PathBuf>,
    /// The CA of the internal TLS certificates, when the services serve TLS only.
    pub internal_ca: Option<TestCa>,
}

impl TestEnv {
    /// A fresh prefix, namespace and key pair.
    pub fn new() -> Self {
        df_common::telemetry::init_for_tests();
        let (seed, verifying_key) = df_common::auth::generate_key_pair();
        Self {
            redis: TestRedis::new(),
            bus: TestBus::new(),
            internal_auth: InternalAuthConfig {
                signing_key: Some(seed),
                signing_key_id: "k1".into(),
                verifying_keys: Default::default(),
                key_issuers: Default::default(),
                token_ttl_secs: 60,
            },
            verifying_key,
            service_keys: SERVICES_WITH_OWN_KEYS
                .iter()
                .map(|name| (*name, df_common::auth::generate_key_pair()))
                .collect(),
            redis_url: None,
            redis_ca_file: None,
            internal_ca: None,
        }
    }

    /// Every internal gRPC listener serves TLS only, with certificates from a CA made for the
    /// test (as the chart's production values do).
    pub fn with_internal_tls(mut self) -> Self {
        self.internal_ca = Some(TestCa::new());
        self
    }

    /// Services reach Redis at `url` (a fault proxy, a TLS server whose chain ends at
    /// `ca_file`).
    pub fn with_redis_url(mut self, url: String, ca_file: Option<PathBuf>) -> Self {
        self.redis_url = Some(url);
        self.redis_ca_file = ca_file;
        self
    }

    /// The Redis settings of `service`.
    pub fn redis_config(&self, service: &str) -> RedisConfig {
        let shared = match &self.redis_url {
            Some(url) => self.redis.config_for(url),
            None => self.redis.config(),
        };
        RedisConfig {
            key_prefix: format!("{}{service}:", self.redis.prefix()),
            ca_file: self.redis_ca_file.clone(),
            ..shared
        }
    }

    /// The test settings of the sections `service` shares with every service: its database,
    /// its Redis prefix, the test's bus namespace, the gateway's verifying key and every
    /// service's own (each accepted only from its service), its own signing key, and TLS when
    /// the test asked for it.
    pub fn base(&mut self, service: &'static str, db: &TestDb) -> ServiceBase {
        let mut base = ServiceBase::for_service(service);
        base.database = db.config();
        base.redis = self.redis_config(service);
        base.bus = self.bus.config();
        let mut verifying_keys: std::collections::BTreeMap<String, String> = self
            .service_keys
            .iter()
            .map(|(name, (_, public))| ((*name).to_owned(), public.clone()))
            .collect();
        verifying_keys.insert("k1".to_owned(), self.verifying_key.clone());
        base.internal_auth = InternalAuthConfig {
            signing_key: self.service_keys.get(service).map(|(seed, _)| seed.clone()),
            signing_key_id: service.to_owned(),
            verifying_keys,
            key_issuers: self
                .service_keys
                .keys()
                .map(|name| ((*name).to_owned(), (*name).to_owned()))
                .collect(),
            ..self.internal_auth.clone()
        };
        if let Some(ca) = self.internal_ca.as_mut() {
            let files = ca.server(&["localhost"]);
            base.grpc.tls = Some(ServerTls {
                cert_file: files.cert_file,
                key_file: files.key_file,
                client_ca_file: None,
            });
        }
        base
    }

    /// Signs principal tokens as the service `name` (the gateway, unless a test plays another).
    pub fn signer(&self, name: &str) -> Arc<TokenSigner> {
        Arc::new(TokenSigner::from_config(&self.internal_auth, name).unwrap())
    }

    /// The gateway's signer.
    pub fn gateway_signer(&self) -> Arc<TokenSigner> {
        self.signer(service::GATEWAY)
    }

    /// The URL a client uses for a gRPC listener at `addr` (https and the certificate's name
    /// with internal TLS).
    pub fn grpc_url(&self, addr: SocketAddr) -> String {
        match self.internal_ca {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        }
    }

    /// What a client trusts with internal TLS.
    pub fn client_tls(&self) -> Option<ClientTls> {
        self.internal_ca.as_ref().map(|ca| ClientTls {
            ca_file: Some(ca.ca_file.clone()),
            ..Default::default()
        })
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

/// gRPC and admin listeners on ephemeral loopback ports.
pub async fn ephemeral_listeners() -> Listeners {
    Listeners {
        grpc: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    }
}

/// A service running in this process.
pub struct RunningService {
    /// Its name.
    pub name: &'static str,
    /// Its gRPC address.
    pub grpc_addr: SocketAddr,
    /// Its admin listener (`/healthz`, `/readyz`, `/metrics`).
    pub admin_url: String,
    /// Its database.
    pub db: TestDb,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// The runtime of its own it runs on, when it was started to be killed.
    runtime: Option<tokio::runtime::Runtime>,
}

impl RunningService {
    /// What its admin listener's `/metrics` shows now.
    pub async fn metrics(&self) -> String {
        crate::metrics::scrape(&self.admin_url).await
    }

    /// Runs `serve` (given the listeners and a shutdown token) and waits until the service is
    /// ready. The test fails if the service stops with an error.
    pub async fn start<F, Fut>(
        name: &'static str,
        db: TestDb,
        listeners: Listeners,
        serve: F,
    ) -> Self
    where
        F: FnOnce(Listeners, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), df_common::Error>> + Send + 'static,
    {
        let mut service = Self {
            name,
            grpc_addr: listeners.grpc.local_addr().unwrap(),
            admin_url: String::new(),
            db,
            shutdown: CancellationToken::new(),
            task: None,
            runtime: None,
        };
        service.serve(listeners, serve).await;
        service
    }

    /// Runs the service again on `listeners` (after [`RunningService::stop`]), with the same
    /// database.
    pub async fn serve<F, Fut>(&mut self, listeners: Listeners, serve: F)
    where
        F: FnOnce(Listeners, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), df_common::Error>> + Send + 'static,
    {
        self.grpc_addr = listeners.grpc.local_addr().unwrap();
        self.admin_url = format!("http://{}", listeners.admin.local_addr().unwrap());
        self.shutdown = CancellationToken::new();
        let running = serve(listeners, self.shutdown.clone());
        let name = self.name;
        self.task = Some(tokio::spawn(async move {
            if let Err(error) = running.await {
                panic!("{name} stopped: {error:?}");
            }
        }));
        wait_until_ready(&self.admin_url, name).await;
    }

    /// Runs the service again (after [`RunningService::stop`]) on a runtime of its own, so that
    /// [`RunningService::kill`] can end it the way a killed process ends.
    pub async fn serve_killable<F, Fut>(&mut self, serve: F)
    where
        F: FnOnce(Listeners, CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), df_common::Error>> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the service");
        let (bound, addresses) = tokio::sync::oneshot::channel();
        self.shutdown = CancellationToken::new();
        let shutdown = self.shutdown.clone();
        let name = self.name;
        runtime.spawn(async move {
            // Listeners belong to the runtime that polls them: bound on this one.
            let listeners = ephemeral_listeners().await;
            let _ = bound.send((
                listeners.grpc.local_addr().unwrap(),
                listeners.admin.local_addr().unwrap(),
            ));
            if let Err(error) = serve(listeners, shutdown).await {
                panic!("{name} stopped: {error:?}");
            }
        });
        let (grpc, admin) = addresses.await.expect("the service's listeners");
        self.grpc_addr = grpc;
        self.admin_url = format!("http://{admin}");
        self.runtime = Some(runtime);
        wait_until_ready(&self.admin_url, name).await;
    }

    /// Ends a service started by [`RunningService::serve_killable`] at once: every task it runs
    /// is dropped wherever it stands, nothing is drained or finished, its connections close.
    pub fn kill(&mut self) {
        let runtime = self
            .runtime
            .take()
            .expect("only a service served to be killed can be killed");
        runtime.shutdown_background();
    }

    /// Asks the service to stop and waits (up to 30 s) until it drained.
    pub async fn stop(&mut self) {
        stop_task(&self.shutdown, self.task.take()).await;
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Cancels `shutdown` and waits (up to 30 s) for `task` to end.
pub async fn stop_task(shutdown: &CancellationToken, task: Option<JoinHandle<()>>) {
    shutdown.cancel();
    if let Some(task) = task {
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
}

/// Polls `<admin_url>/readyz` until it answers 200 (at most [`crate::wait::PATIENCE`]).
///
/// A loop of its own rather than [`crate::eventually`]: it runs inside futures that must be
/// `Send`, which the compiler cannot yet prove through an `AsyncFnMut` bound.
pub async fn wait_until_ready(admin_url: &str, name: &str) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + crate::wait::PATIENCE;
    loop {
        if client
            .get(format!("{admin_url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the services of an end-to-end platform learn about their surroundings besides
/// [`TestEnv`]: where the gateway answers and which browser origin the test pretends to be.
#[derive(Clone, Debug)]
pub struct Surroundings {
    /// The gateway's public URL (`http://127.0.0.1:<port>`), bound before any service starts.
    pub gateway_url: String,
    /// The origin of the client app.
    pub app_origin: String,
    /// The gRPC URL of each member started before this one, by name.
    pub started: Vec<(&'static str, String)>,
}

impl Surroundings {
    /// The gRPC URL of member `name`, when it started before.
    pub fn grpc_url(&self, name: &str) -> Option<&str> {
        self.started
            .iter()
            .find(|(started, _)| *started == name)
            .map(|(_, url)| url.as_str())
    }
}

/// A service behind the gateway that an end-to-end platform can run: its `testing` entry in
/// the one shape the platform knows, so that adding a service to the platform needs nothing
/// but this implementation and the service's name in the test that wants it.
pub trait Member: Send + Sync + Sized + 'static {
    /// The service's name: its gateway upstream, its key in the ports table.
    const NAME: &'static str;
    /// Its configuration, which a test may change before it starts.
    type Config: 'static;

    /// Starts the service with the test settings of `env` and `around`, changed by `adjust`;
    /// returns once it reports ready.
    fn start_member(
        env: &mut TestEnv,
        around: &Surroundings,
        adjust: impl FnOnce(&mut Self::Config) + Send,
    ) -> impl Future<Output = Self> + Send;

    /// The running service (its address, its database; `stop` needs it mutable).
    fn running(&mut self) -> &mut RunningService;
}
